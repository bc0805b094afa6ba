"""English wording of question parts: plural nouns, counted nouns, object references with
coordinates and the note that says which pixel grid coordinates refer to.

Category names are ScanNet-style lower-case nouns or noun phrases ("trash can", "bookshelf");
the plural inflects the last word.
"""

from __future__ import annotations

# irregular or invariant last words of category names
_IRREGULAR = {
    "person": "people",
    "mouse": "mice",
    "foot": "feet",
    "shelf": "shelves",
    "bookshelf": "bookshelves",
    "knife": "knives",
    "leaf": "leaves",
    "scarf": "scarves",
    "wife": "wives",
    "loaf": "loaves",
    "sheep": "sheep",
    "fish": "fish",
    "series": "series",
    "clothes": "clothes",
    "shoes": "shoes",
    "pants": "pants",
    "blinds": "blinds",
    "glasses": "glasses",
    "stairs": "stairs",
    "headphones": "headphones",
    "scissors": "scissors",
}
_VOWELS = "aeiou"


def plural(noun: str) -> str:
    """The plural of a category name: "chair" -> "chairs", "box" -> "boxes",
    "bookshelf" -> "bookshelves", "trash can" -> "trash cans"."""
    head, _, last = noun.rpartition(" ")
    low = last.lower()
    if low in _IRREGULAR:
        word = _IRREGULAR[low]
    elif low.endswith(("s", "x", "z", "ch", "sh")):
        word = last + "es"
    elif low.endswith("y") and len(low) > 1 and low[-2] not in _VOWELS:
        word = last[:-1] + "ies"
    else:
        word = last + "s"
    return f"{head} {word}" if head else word


def counted(n: int, noun: str) -> str:
    """"1 chair", "2 chairs"."""
    return f"{n} {noun if n == 1 else plural(noun)}"


def article(noun: str) -> str:
    """"a" or "an" for a category name (by its first letter; good enough for labels)."""
    return "an" if noun[:1].lower() in _VOWELS else "a"


def reference(category: str, point: tuple[int, int] | None) -> str:
    """An object named by category, with a point on it when the category is not unique in the
    frame: "chair" or "chair at (281, 203)"."""
    if point is None:
        return category
    return f"{category} at ({point[0]}, {point[1]})"


def pixel_note(width: int, height: int) -> str:
    """The sentence saying which pixel grid coordinates refer to."""
    return (
        f"Coordinates are pixels of the {width}x{height} frame, x to the right and y down "
        f"from (0, 0) at its top-left corner."
    )
