"""Documents -> sentences -> chunks, counted with the model's own tokenizer (no model load)."""

from __future__ import annotations

import random

import pytest
from conftest import SEEDS, collapse, file_lines

from rag.chunking import chunk_sentences, paragraphs, split_sentences
from rag.loaders import list_sources, load_documents, load_rules
from rag.types import Document

EXTS = (".txt", ".md", ".html")


@pytest.fixture(scope="module")
def seed_docs():
    return load_documents(list_sources(SEEDS, EXTS), load_rules())


def plain_doc(text: str, source: str = "test/doc.txt") -> Document:
    return Document(doc_id=source, source=source, text=text,
                    line_numbers=tuple(range(1, text.count("\n") + 2)))


def tokens(embedder, text: str, special: bool = False) -> int:
    return len(embedder.tokenizer.encode(text, add_special_tokens=special).ids)


def chunked(doc, embedder, size=128, overlap=32):
    sentences = split_sentences(doc, embedder, size)
    return sentences, chunk_sentences(doc, sentences, size, overlap)


def long_sentence(n_words: int = 900, seed: int = 7) -> str:
    rng = random.Random(seed)
    vocab = ("integrated care systems replaced clinical commissioning groups while "
             "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis "
             "co-ordinated ‘leadership’ naïve 30-50,000 GP's PCNs, LMCs (federations)").split()
    return " ".join(rng.choice(vocab) for _ in range(n_words)) + "."


def uncovered(text: str, spans) -> list[int]:
    covered = set()
    for a, b in spans:
        covered.update(range(a, b))
    return [i for i, ch in enumerate(text) if not ch.isspace() and i not in covered]


def test_sentences_follow_the_text(seed_docs, embedder):
    doc = next(d for d in seed_docs if d.source.endswith("000_5f02ec8ebbba9bda.txt"))
    texts = [s.text for s in split_sentences(doc, embedder, 128)]
    assert texts[0] == "General practice needs to act now"
    assert ("Sajid Javid floated the idea of GP nationalisation in early 2022, and the incorporation of "
            "general practice into the NHS organisation, but the Fuller Report points towards the "
            "development of more local solutions for general practice.") in texts
    assert "The end of clinical commissioning groups (CCGs) is the end of the purchaser-provider split, " \
           "the internal market that has been organised by the NHS since 1990." in texts
    assert "What action can general practice take within the new system?" in texts


@pytest.mark.parametrize("starts, lines, ends", [
    # An introduced list: the line ending in ":" and its bullets.
    ("They exist to achieve four aims:", (9, 14), "support broader social and economic development"),
    # A signature, name then a role a line: "what roles does he hold?" is answered only by it whole.
    ("William Greenwood LMC Chief Executive", (51, 54), "Chair of a local Patient Participation Group"),
])
def test_a_list_or_a_block_of_short_lines_is_one_unit(seed_docs, embedder, starts, lines, ends):
    doc = next(d for d in seed_docs if d.source.endswith("003_e73dfa9ff476ae68.txt"))
    unit = next(s for s in split_sentences(doc, embedder, 128) if s.text.startswith(starts))
    assert (unit.start_line, unit.end_line) == lines
    assert unit.text.endswith(ends)


def test_short_lines_around_prose_or_a_blank_line_stay_apart():
    text = ("A Heading\nIt starts with a sentence that is long enough to be prose and ends.\n"
            "Jane Smith\n\nChief Executive\nNorth Trust\n- a bullet\n- another")
    spans = [text[a:b] for a, b, _ in paragraphs(text)]
    assert spans == ["A Heading", "It starts with a sentence that is long enough to be prose and ends.",
                     "Jane Smith", "Chief Executive\nNorth Trust", "- a bullet", "- another"]


def test_hard_wrapped_prose_in_short_lines_is_not_a_block():
    text = "The NHS has a new\nfixation. Integration is\nNow the burning question\nfor all of us."
    assert not any(whole for _, _, whole in paragraphs(text))


def test_chunks_start_and_end_on_sentence_boundaries(seed_docs, embedder):
    for doc in seed_docs:
        sentences, chunks = chunked(doc, embedder)
        starts, ends = {s.start for s in sentences}, {s.end for s in sentences}
        for c in chunks:
            assert c.start in starts and c.end in ends
            assert c.start == sentences[c.first_sentence].start
            assert c.end == sentences[c.last_sentence - 1].end


@pytest.mark.parametrize("size, overlap", [(128, 32), (32, 8), (254, 0)])
def test_no_chunk_exceeds_the_size_or_the_model_limit(seed_docs, embedder, size, overlap):
    for doc in seed_docs:  # the seeds have sentences over 32 tokens, so cutting is exercised
        sentences, chunks = chunked(doc, embedder, size, overlap)
        for s in sentences:
            assert s.tokens == tokens(embedder, s.text)
        for c in chunks:
            # A sentence bigger than the size is cut, so even one-sentence chunks fit.
            assert tokens(embedder, c.text) <= size, (doc.source, c.start_line, c.text[:80])
            assert tokens(embedder, c.text, special=True) <= embedder.max_seq_length


def test_every_character_is_in_some_chunk(seed_docs, embedder):
    for doc in seed_docs:
        sentences, chunks = chunked(doc, embedder, 32, 8)
        assert uncovered(doc.text, [(s.start, s.end) for s in sentences]) == []
        assert uncovered(doc.text, [(c.start, c.end) for c in chunks]) == []


def test_a_very_long_sentence_is_split_without_losing_text(embedder):
    text = "A short opening sentence.\n" + long_sentence() + "\nAnd a closing one."
    doc = plain_doc(text)
    assert tokens(embedder, text) > 4 * embedder.max_seq_length
    sentences, chunks = chunked(doc, embedder, 128, 32)
    assert uncovered(text, [(s.start, s.end) for s in sentences]) == []
    assert uncovered(text, [(c.start, c.end) for c in chunks]) == []
    # The pieces of the long sentence, put back together, are the sentence.
    middle = [s for s in sentences if s.start_line == 2]
    assert len(middle) > 4
    line = text.split("\n")[1]
    assert text[middle[0].start:middle[-1].end] == line
    for a, b in zip(middle, middle[1:]):
        assert a.end <= b.start and text[a.end:b.start].strip() == ""  # contiguous pieces


def test_pieces_of_a_long_sentence_keep_to_the_size(embedder):
    """Cut points must fall between words, so no piece re-tokenizes bigger than the size."""
    text = long_sentence()
    doc = plain_doc(text)
    sentences, chunks = chunked(doc, embedder, 128, 32)
    over = [(s.tokens, tokens(embedder, s.text)) for s in sentences if tokens(embedder, s.text) > 128]
    split_words = [text[s.end - 5:s.end + 5] for s in sentences[:-1] if not text[s.end].isspace()]
    assert over == [] and split_words == []
    assert all(tokens(embedder, c.text) <= 128 for c in chunks)


def test_unbreakable_text_is_kept_within_limits(embedder):
    text = "Cyrillic " + "Ж" * 3000 + " and CJK " + "日本の医療制度" * 300 + " end."
    doc = plain_doc(text)
    sentences, chunks = chunked(doc, embedder, 64, 16)
    assert uncovered(text, [(c.start, c.end) for c in chunks]) == []
    assert all(tokens(embedder, c.text, special=True) <= embedder.max_seq_length for c in chunks)


def test_overlap_repeats_whole_sentences_up_to_the_overlap(seed_docs, embedder):
    for doc in seed_docs:
        sentences, chunks = chunked(doc, embedder, 64, 24)
        for a, b in zip(chunks, chunks[1:]):
            assert a.first_sentence < b.first_sentence  # always progress
            shared = range(b.first_sentence, min(a.last_sentence, b.last_sentence))
            assert sum(sentences[i].tokens for i in shared) <= 24
            assert b.first_sentence <= a.last_sentence  # no sentence is skipped
        overlapping = sum(b.first_sentence < a.last_sentence for a, b in zip(chunks, chunks[1:]))
        if len(chunks) > 2:
            assert overlapping > 0, doc.source


def test_no_overlap_when_overlap_is_zero(seed_docs, embedder):
    for doc in seed_docs:
        _, chunks = chunked(doc, embedder, 64, 0)
        for a, b in zip(chunks, chunks[1:]):
            assert b.first_sentence == a.last_sentence


def test_ranges_are_consistent_with_the_file(seed_docs, embedder):
    for doc in seed_docs:
        path = SEEDS.parent / doc.source
        sentences, chunks = chunked(doc, embedder)
        for s in sentences:
            assert doc.lines_of(s.start, s.end) == (s.start_line, s.end_line)
            assert s.text in file_lines(path, s.start_line, s.end_line)
        for c in chunks:
            assert c.text == doc.text[c.start:c.end]
            assert doc.lines_of(c.start, c.end) == (c.start_line, c.end_line)
            assert c.tokens == sum(s.tokens for s in sentences[c.first_sentence:c.last_sentence])
            original = (SEEDS.parent / c.source).read_text(encoding="utf-8").splitlines()
            assert collapse(c.text.split("\n")[0]) in collapse(original[c.start_line - 1])
            assert collapse(c.text.split("\n")[-1]) in collapse(original[c.end_line - 1])


def test_hard_wrapped_lines_make_one_paragraph():
    text = "Integrated care systems are\npartnerships of organisations.\n\nA new paragraph."
    spans = paragraphs(text)
    assert [text[a:b] for a, b, _ in spans] == [
        "Integrated care systems are\npartnerships of organisations.", "A new paragraph."]


def test_empty_document_gives_no_chunks(embedder):
    assert chunk_sentences(plain_doc(""), [], 128, 32) == []


WRAPPED = """The treaty that ended the long war between the two kingdoms was signed by
King Charles III in the great hall of the palace, in front of the court and
the ambassadors of seven nations. The county of Anjou began in
911 as a fiefdom granted to a loyal count by the king of the West Franks.

A second paragraph, wrapped at the same width as the first one, follows here
and ends on this short line.
Then a new paragraph begins without a blank line before it, as mail does.

Regards,
Ada Lovelace
Analytical Engines Ltd
"""


def test_hard_wrapped_lines_join_whatever_they_start_with(embedder):
    """A wrapped line starting with a capital or a digit continues its sentence; a short line
    that ends a sentence ends its paragraph; a signature stays a block of its own."""
    doc = plain_doc(WRAPPED)
    texts = [collapse(WRAPPED[s:e]) for s, e, _ in paragraphs(WRAPPED)]
    assert texts[0].startswith("The treaty") and texts[0].endswith("West Franks.")
    assert texts[1].endswith("ends on this short line.") and texts[2].startswith("Then a new paragraph")
    assert texts[-1] == "Regards, Ada Lovelace Analytical Engines Ltd"
    sentences = {s.text: (s.start_line, s.end_line) for s in split_sentences(doc, embedder, 128)}
    signed = next(t for t in sentences if "signed by King Charles III" in t)
    assert sentences[signed] == (1, 3)
    assert sentences["The county of Anjou began in 911 as a fiefdom granted to a loyal count by the king of the "
                     "West Franks."] == (3, 4)


def test_a_paragraph_a_line_is_not_taken_for_wrapped_text(seed_docs):
    """The seeds put each paragraph on one (long) line: there a capital starts a new paragraph."""
    from rag.chunking import wrap_width

    assert all(wrap_width(d.text.split("\n")) is None for d in seed_docs)
    lines = "Short heading\nA line that is its own paragraph.\nAnother one, also complete.\nA fourth line.\n"
    assert [collapse(lines[s:e]) for s, e, _ in paragraphs(lines)][1:] == [
        "A line that is its own paragraph.", "Another one, also complete.", "A fourth line."]


PROSE = ("The lighthouse on Skerrow Point has a lens made by Chance Brothers in 1874, turned by clockwork that "
         "the keepers wound every four hours through the long winter nights. The first keeper kept the light for "
         "thirty-one years without a single night dark, and his daughter took the post after him.")


@pytest.mark.parametrize("width", [30, 31, 45])
def test_text_folded_at_narrow_widths_is_wrapped(width):
    """``fold -s -w 30`` text is hard-wrapped like any other (issue 25, 8)."""
    import subprocess

    from rag.chunking import wrap_width

    text = subprocess.run(["fold", "-s", "-w", str(width)], input=f"{PROSE}\n\n{PROSE}\n", capture_output=True,
                          text=True, check=True).stdout
    lines = text.split("\n")
    assert wrap_width(lines) is not None
    assert [collapse(text[a:b]) for a, b, _ in paragraphs(text)] == [PROSE, PROSE]


def test_a_wrapped_list_item_is_not_cut_after_its_first_line():
    text = ("What to bring on the walk, in the order the warden gave them at the start:\n"
            "- a tent and a sleeping bag, and enough food and water for\n"
            "  three days on the hill in any weather\n"
            "- a map of the island and a compass\n\n"
            "The walk starts at the harbour at nine and ends at the lighthouse,\n"
            "where the keeper's daughter serves tea to walkers until five.\n"
            "- Bring cash, as there is no card machine on the island,\n"
            "  and the shop in the village closes at noon.\n")
    spans = [collapse(text[a:b]) for a, b, _ in paragraphs(text)]
    assert spans[0].endswith("for three days on the hill in any weather - a map of the island and a compass")
    assert spans[-1] == ("- Bring cash, as there is no card machine on the island, and the shop in the village "
                         "closes at noon.")


def test_a_heading_with_no_gap_after_it_is_a_paragraph_of_its_own():
    """A short line without a full stop, then a capital: a heading, not the start of a sentence (issue 25, 4)."""
    text = ("Lights and navigation\n"
            "The lighthouse on Skerrow Point has a lens made by Chance Brothers in\n"
            "1874, turned by clockwork that the keepers wound every four hours\n"
            "through the long winter nights, and it still turns today for ships.\n"
            "The harbour\n"
            "Boats moor inside the breakwaters, which were built of dressed granite\n"
            "by the men of the island in the years after the great storm of 1893.\n")
    assert [collapse(text[a:b]) for a, b, _ in paragraphs(text)] == [
        "Lights and navigation", collapse("\n".join(text.split("\n")[1:4])), "The harbour",
        collapse("\n".join(text.split("\n")[5:7]))]
