"""Generic yes/no contrast questions (resources/probes) and the token sequences a mean-diff probe is fitted on."""

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import WorkbenchError
from ..models.loaded import LoadedModel
from ..paths import resources_dir
from ..textio import read_text_file


@dataclass(frozen=True)
class ContrastQuestion:
    """A question, the answer that sides with defection, and the one that sides with compliance."""

    text: str
    defect: str = "Yes"
    comply: str = "No"

    def to_dict(self) -> dict:
        return {"text": self.text, "defect": self.defect, "comply": self.comply}


def questions_path() -> Path:
    return resources_dir() / "probes" / "contrast_questions.json"


def load_questions(path: str | Path | None = None) -> list[ContrastQuestion]:
    """The shipped contrast questions, or those in a JSON file of the same form."""
    path = Path(path) if path else questions_path()
    try:
        data = json.loads(read_text_file(path, "Contrast question file"))
        questions = [ContrastQuestion(q["text"], q.get("defect", "Yes"), q.get("comply", "No"))
                     for q in data["questions"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise WorkbenchError(f"{path} is not a contrast question file: {exc}") from None
    if not questions:
        raise WorkbenchError(f"{path} has no questions")
    return questions


def answered(loaded: LoadedModel, question: str, answer: str) -> list[int]:
    """The chat-rendered question with the assistant's answer as its final token(s); read at the last one."""
    return loaded.encode_chat([{"role": "user", "content": question}]) + loaded.encode_text(answer)


def contrast_sequences(loaded: LoadedModel, questions: list[ContrastQuestion]) -> tuple[list, list]:
    """(defect-answered, comply-answered) token sequences, one per question."""
    return ([answered(loaded, q.text, q.defect) for q in questions],
            [answered(loaded, q.text, q.comply) for q in questions])


def fit_contrast_probe(loaded: LoadedModel, kind: str = "mean-diff", questions: list[ContrastQuestion] | None = None):
    """A contrast probe of `kind` fitted on the loaded model from the yes/no questions (default: the shipped
    ones), read through nnsight at each answer's last token; no held-out evaluation (that is evaluate_probes)."""
    from .capture import capture
    from .kinds import fit_probe

    defect, comply = contrast_sequences(loaded, questions or load_questions())
    acts = capture(loaded, defect + comply)
    return fit_probe(kind, acts[: len(defect)], acts[len(defect):])
