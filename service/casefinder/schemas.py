"""Typed request and response models: the JSON of ../shared/API.md, shared by API and CLI."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

# What the OpenAPI schema says of a query and of k; the engine checks both itself (engine.py) with
# its own messages, so these only describe (the defaults of CASEFINDER_MAX_QUERY_CHARS, _MAX_K,
# _MAX_FILTER_VALUES).
# At least one character that is white space neither to Python nor to JSON Schema's regular
# expressions (engine.visible_text): "\S" alone differs between them (U+001C-U+001F, U+0085, U+FEFF).
QUERY_TEXT: JsonDict = {"minLength": 1, "maxLength": 1000, "pattern": r"[^\s\x1c-\x1f\x85\ufeff]"}
K_RANGE: JsonDict = {"minimum": 1, "maximum": 50}
FILTER_VALUES: JsonDict = {"maxItems": 100}


def _json_integer(value: Any) -> Any:
    """A whole number as JSON means it: 3 and 3.0, never "3", 3.5 or true."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise PydanticCustomError("int_type", "not a whole number")
    return int(value)


JsonInt = Annotated[int, BeforeValidator(_json_integer)]
# A chat message from the user that holds text: plain, or as a text part.
USER_TEXT: JsonDict = {
    "type": "object",
    "required": ["role", "content"],
    "properties": {
        "role": {"const": "user"},
        "content": {
            "anyOf": [
                QUERY_TEXT | {"type": "string"},
                {
                    "type": "array",
                    "contains": {
                        "type": "object",
                        "required": ["type", "text"],
                        "properties": {"type": {"const": "text"}, "text": QUERY_TEXT | {"type": "string"}},
                    },
                },
            ]
        },
    },
}


class Contact(BaseModel):
    name: str
    email: str | None = None
    text: str


class CaseRef(BaseModel):
    id: str
    title: str
    municipality: str | None = None
    catalogue: str
    kind: str  # case, proposal or section
    overview: bool = False  # a section that lists or summarises cases
    area: str | None = None
    efficiency_type: str | None = None
    municipalities: list[str] = []
    organisations: list[str] = []
    year: int | None = None
    catalogue_title: str | None = None
    contacts: list[Contact] = []


class Passage(BaseModel):
    text: str
    highlight: str


class Source(BaseModel):
    document: str
    sha256: str
    start: int
    end: int
    page: int | None = None
    url: str
    original_url: str | None = None  # the original (PDF) at the passage's page, where one is kept


class SearchHit(BaseModel):
    rank: int
    score: float
    confidence: float  # 0-1: how sure the service is that this case answers the query
    case: CaseRef
    passage: Passage
    source: Source


class Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt filter is an error, not "no filter"

    municipality: list[str] = Field([], json_schema_extra=FILTER_VALUES)
    catalogue: list[str] = Field([], json_schema_extra=FILTER_VALUES)
    area: list[str] = Field([], json_schema_extra=FILTER_VALUES)
    kind: list[str] = Field([], json_schema_extra=FILTER_VALUES)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")  # {"municipality": [...]} outside filters is an error

    q: str = Field(json_schema_extra=QUERY_TEXT)
    k: JsonInt = Field(10, json_schema_extra=K_RANGE)  # true is not 1
    filters: Filters = Field(default_factory=Filters)
    per_case: StrictBool = True  # false: several passages of one case may be listed


class SearchResponse(BaseModel):
    query: str
    took_ms: float
    no_match: bool
    hits: list[SearchHit]
    confidence: float  # of the most confident hit
    k: int
    filters: Filters
    total: int = 0  # cases in the result set after filters; facet counts are over this set
    facets: dict[str, dict[str, int]] = {}
    degraded: bool = False  # lexical search only, while the index is built or repaired (/healthz)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(json_schema_extra=QUERY_TEXT)
    k: JsonInt = Field(5, json_schema_extra=K_RANGE)
    stream: StrictBool = False
    filters: Filters = Field(default_factory=Filters)


class Citation(BaseModel):
    n: int
    case: CaseRef
    passage: Passage
    source: Source


class AskResponse(BaseModel):
    question: str
    answer: str
    mode: str
    grounded: bool
    citations: list[Citation]
    maybe_relevant: list[CaseRef] = []
    note: str | None = None


class Heading(BaseModel):
    title: str
    start: int
    end: int
    level: int


class SimilarCase(BaseModel):
    case: CaseRef
    similarity: float
    url: str


class CaseDetail(BaseModel):
    case: CaseRef
    text: str
    source: Source
    page: int | None = None
    money: list[str] = []
    headings: list[Heading] = []
    duplicates: list[dict[str, int]] = []
    similar: list[SimilarCase] = []


class DocumentInfo(BaseModel):
    id: str
    title: str
    publisher: str
    year: int | None
    sha256: str
    cases: int
    units: int
    layout: str
    source: str
    url: str


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class ContentPart(BaseModel):
    """One part of a message in the OpenAI format; parts other than text (images) have none."""

    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    role: str
    content: str | list[ContentPart] | None = None


class ChatRequest(BaseModel):
    model: str = "casefinder"
    # At least one message from the user with text (checked: no_user_message); the last such is the question.
    messages: list[ChatMessage] = Field(json_schema_extra={"minItems": 1, "contains": USER_TEXT})
    stream: StrictBool = False
