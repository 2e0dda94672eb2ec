"""The tracked-topic query language, compiled to a MongoDB filter.

    ngập OR "triều cường" AND NOT sentiment:positive (district:760 OR outlet:"Tuổi Trẻ")

Words and quoted phrases match the title and text without regard to accents or case; a phrase
matches its words side by side (every adjacent pair of its words, as indexed). AND binds tighter
than OR, and two terms side by side mean AND. Field operators: ``source:`` (press, website,
social, push, manual), ``outlet:``, ``district:`` or ``locality:`` (an administrative unit's
official code; a document naming a unit of the old map is found by today's codes too),
``sector:`` (a sector id) and ``sentiment:`` (negative, neutral, positive). Mistakes raise
QuerySyntaxError with the position (0-based character offset) where the query stops making sense.
"""

import itertools
import re
from dataclasses import dataclass
from typing import Any

from services.common.text import fold_diacritics, search_terms

FIELDS = {
    "source": "source_kind",
    "outlet": "outlet",
    # The lookup keys ingest stores what nlp found in (docs/storage.md), each a multikey index.
    "district": "locality_codes",
    "locality": "locality_codes",
    "sector": "sector_ids",
    "sentiment": "sentiment.label",
}
SOURCE_KINDS = ("press", "website", "social", "push", "manual")
SENTIMENTS = ("negative", "neutral", "positive")
MAX_LENGTH = 1_000
MAX_TERMS = 50

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<lparen>\() | (?P<rparen>\)) |
        (?P<phrase>"(?P<phrase_body>[^"]*)"?) |
        (?P<field>[A-Za-z]+):(?:"(?P<quoted_value>[^"]*)"?|(?P<value>[^\s()"]+))? |
        (?P<word>[^\s()"]+)
    )""",
    re.VERBOSE,
)


class QuerySyntaxError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        self.position = position
        super().__init__(f"{message} (at character {position})")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # lparen, rparen, and, or, not, term, field
    text: str
    position: int
    field: str = ""


def compile_query(query: str) -> dict[str, Any]:
    """The MongoDB filter a query means; raises QuerySyntaxError."""
    if len(query) > MAX_LENGTH:
        raise QuerySyntaxError(f"a query is at most {MAX_LENGTH} characters", MAX_LENGTH)
    tokens = _tokenize(query)
    if not tokens:
        raise QuerySyntaxError("the query is empty", 0)
    if sum(t.kind in ("term", "field") for t in tokens) > MAX_TERMS:
        raise QuerySyntaxError(f"a query has at most {MAX_TERMS} terms", 0)
    parser = _Parser(tokens, len(query))
    result = parser.expression()
    if parser.peek() is not None:
        token = parser.peek()
        raise QuerySyntaxError(f"unexpected '{token.text}'", token.position)
    return result


def _tokenize(query: str) -> list[_Token]:
    tokens = []
    position = 0
    while position < len(query):
        if query[position:].strip() == "":
            break
        match = _TOKEN.match(query, position)
        if match is None:  # pragma: no cover - the word alternative matches any other text
            raise QuerySyntaxError("cannot read the query here", position)
        # Where the token itself starts, after the spaces before it.
        start = position + len(query[position:]) - len(query[position:].lstrip())
        if match["lparen"]:
            tokens.append(_Token("lparen", "(", start))
        elif match["rparen"]:
            tokens.append(_Token("rparen", ")", start))
        elif match["phrase"] is not None:
            if not match["phrase"].endswith('"') or len(match["phrase"]) < 2:
                raise QuerySyntaxError("a quoted phrase is not closed", start)
            tokens.append(_Token("term", match["phrase_body"], start, "phrase"))
        elif match["field"] is not None:
            value = match["quoted_value"] if match["quoted_value"] is not None else match["value"]
            if not value:
                raise QuerySyntaxError(f"'{match['field']}:' needs a value", start)
            tokens.append(_Token("field", value, start, match["field"].lower()))
        else:
            word = match["word"]
            upper = word.upper()
            kind = upper.lower() if upper in ("AND", "OR", "NOT") else "term"
            tokens.append(_Token(kind, word, start))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent: or := and (OR and)*; and := not ((AND)? not)*; not := NOT not | atom."""

    def __init__(self, tokens: list[_Token], length: int) -> None:
        self._tokens = tokens
        self._index = 0
        self._length = length

    def peek(self) -> _Token | None:
        return self._tokens[self._index] if self._index < len(self._tokens) else None

    def _take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise QuerySyntaxError("the query ends too soon", self._length)
        self._index += 1
        return token

    def expression(self) -> dict[str, Any]:
        clauses = [self._conjunction()]
        while (token := self.peek()) is not None and token.kind == "or":
            self._take()
            clauses.append(self._conjunction())
        return clauses[0] if len(clauses) == 1 else {"$or": clauses}

    def _conjunction(self) -> dict[str, Any]:
        clauses = [self._negation()]
        while (token := self.peek()) is not None and token.kind not in ("or", "rparen"):
            if token.kind == "and":
                self._take()
            clauses.append(self._negation())
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def _negation(self) -> dict[str, Any]:
        token = self.peek()
        if token is not None and token.kind == "not":
            self._take()
            return {"$nor": [self._negation()]}
        return self._atom()

    def _atom(self) -> dict[str, Any]:
        token = self._take()
        if token.kind == "lparen":
            inner = self.expression()
            closing = self.peek()
            if closing is None or closing.kind != "rparen":
                raise QuerySyntaxError(
                    "a parenthesis is not closed", closing.position if closing else self._length
                )
            self._take()
            return inner
        if token.kind == "term":
            return _text_clause(token)
        if token.kind == "field":
            return _field_clause(token)
        raise QuerySyntaxError(
            f"expected a word, a phrase or '(' but found '{token.text}'", token.position
        )


def _text_clause(token: _Token) -> dict[str, Any]:
    words = search_terms(token.text)
    if not words:
        raise QuerySyntaxError(
            f"'{token.text}' has no letters or digits to search for", token.position
        )
    if token.field == "phrase" and len(words) > 1:
        keys = [f"{a} {b}" for a, b in itertools.pairwise(words)]
    else:
        keys = words
    return {"search_terms": keys[0]} if len(keys) == 1 else {"search_terms": {"$all": keys}}


def _field_clause(token: _Token) -> dict[str, Any]:
    if token.field not in FIELDS:
        raise QuerySyntaxError(
            f"unknown field '{token.field}:'; use one of {', '.join(f + ':' for f in FIELDS)}",
            token.position,
        )
    value = token.text.strip()
    if token.field == "source":
        value = fold_diacritics(value)
        if value not in SOURCE_KINDS:
            raise QuerySyntaxError(f"source: is one of {', '.join(SOURCE_KINDS)}", token.position)
    elif token.field == "sentiment":
        if value.lower() not in SENTIMENTS:
            raise QuerySyntaxError(f"sentiment: is one of {', '.join(SENTIMENTS)}", token.position)
        value = value.upper()
    elif token.field == "sector":
        value = value.lower()
    return {FIELDS[token.field]: value}
