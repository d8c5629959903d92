"""Task instructions for LENS queries, and the query prompt format.

LENS is instruction-tuned: a query is embedded as ``<instruct>{task}\\n<query>{text}`` and pooled
only over the query tokens after ``<query>``. Documents carry no instruction for retrieval tasks.
For symmetric tasks (STS, clustering, classification) both sides are embedded as queries with
the same instruction, as in the official evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import LensInputError

__all__ = ["Task", "TASKS", "DEFAULT_TASK", "get_task", "register_task", "format_query"]

INSTRUCT_TOKEN = "<instruct>"
QUERY_TOKEN = "<query>"
RESPONSE_TOKEN = "<response>"
SPECIAL_TOKENS = (INSTRUCT_TOKEN, QUERY_TOKEN, RESPONSE_TOKEN)


@dataclass(frozen=True, kw_only=True)
class Task:
    """A named task: the instruction given to queries and whether documents get it too."""

    name: str
    instruction: str
    symmetric: bool = False


DEFAULT_TASK = "retrieval"

TASKS: dict[str, Task] = {}


def register_task(name: str, instruction: str, *, symmetric: bool = False) -> Task:
    """Add or replace a task in the registry and return it."""
    if not name or not instruction.strip():
        raise LensInputError("A task needs a non-empty name and instruction.")
    TASKS[name] = Task(name=name, instruction=instruction.strip(), symmetric=symmetric)
    return TASKS[name]


for _name, _instruction, _symmetric in (
    ("retrieval", "Given a web search query, retrieve relevant passages that answer the query.", False),
    ("question-answering", "Given a question, retrieve passages that answer the question.", False),
    ("fact-checking", "Given a claim, retrieve documents that support or refute the claim.", False),
    ("duplicate-question", "Retrieve questions that are semantically equivalent to the given question.", True),
    ("sts", "Retrieve semantically similar text.", True),
    ("clustering", "Identify the main topic or theme of the given text.", True),
    ("classification", "Classify the topic of the given text.", True),
    ("news-topic", "Identify the topic or theme of the given news article.", True),
    ("definition", "Given a word, retrieve its dictionary definition.", False),
):
    register_task(_name, _instruction, symmetric=_symmetric)


def get_task(task: str | Task | None) -> Task:
    """Resolve a task name (or a :class:`Task`, or ``None`` for the default)."""
    if isinstance(task, Task):
        return task
    name = DEFAULT_TASK if task is None else task
    try:
        return TASKS[name]
    except KeyError:
        raise LensInputError(
            f"Unknown task {name!r}. Known tasks: {sorted(TASKS)}; add one with register_task()."
        ) from None


def format_query(instruction: str, text: str) -> str:
    """The official LENS query prompt: ``<instruct>{instruction}\\n<query>{text}``."""
    return f"{INSTRUCT_TOKEN}{instruction}\n{QUERY_TOKEN}{text}"
