"""Captions for synthetic clips: filling action templates, joining actions, HumanML3D text lines.

A template is a verb phrase with its verb in brackets ("[kick] with {poss} {side} leg {reps}");
the verb is put in the third person ("kicks") for a main clause or the gerund ("kicking") after
"while". Each caption draws its own subject, wording of counts and adverbs, so the captions of
one clip differ in form but never in content. Lines are written as HumanML3D's
`caption#tokens#start#end`, tokens being `lemma/POS` from a small rule-based tagger.
"""

import re

import numpy as np

from .segment import Segment

SUBJECTS = (
    ("a person", "their"), ("someone", "their"), ("a man", "his"), ("a woman", "her"),
    ("the figure", "its"), ("the person", "their"), ("a human", "their"), ("the man", "his"),
    ("the woman", "her"), ("a guy", "his"), ("a character", "its"), ("he", "his"), ("she", "her"),
)
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen")
_ADVERBS = {
    "slow": ("slowly", "at a slow pace", "leisurely", "carefully", "slowly"),
    "normal": ("", "", "", "at a normal pace", "steadily"),
    "fast": ("quickly", "fast", "at a fast pace", "rapidly", "briskly"),
}
_JOINERS = (", then ", " and then ", ", and then ", ", then ", " and afterwards ")
_LAST_JOINERS = (", and finally ", " and then ", ", then ", " and at last ")
_IRREGULAR_GERUNDS = {"lie": "lying", "die": "dying"}
_DOUBLED = {"hop", "run", "jog", "clap", "step", "sit", "squat", "spin", "skip", "shrug", "zigzag",
            "stop", "drop", "trot", "strut", "get", "put", "shuffle"}


def third_person(verb: str) -> str:
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def gerund(verb: str) -> str:
    if verb in _IRREGULAR_GERUNDS:
        return _IRREGULAR_GERUNDS[verb]
    if verb in _DOUBLED and not verb.endswith("e"):
        return verb + verb[-1] + "ing"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


def number(n: int, rng: np.random.Generator) -> str:
    """n in words or digits."""
    words = n < len(_NUMBER_WORDS)
    return _NUMBER_WORDS[n] if words and rng.random() < 0.6 else str(n)


def times(n: int, rng: np.random.Generator) -> str:
    """How often: 'once', 'twice', 'three times', '3 times'."""
    special = {1: ("once", "one time"), 2: ("twice", "two times", "2 times")}
    if n in special and rng.random() < 0.8:
        return str(rng.choice(special[n]))
    return f"{number(n, rng)} time{'s' if n != 1 else ''}"


def fill(template: str, slots: dict, possessive: str, rng: np.random.Generator) -> str:
    """Fill the {slots} of a template; counts and adverbs get a fresh wording each call."""
    values = {"poss": possessive if rng.random() < 0.7 else "the"}
    for key, value in slots.items():
        if key == "reps":
            values[key] = times(value, rng)
        elif key in ("steps", "n"):
            values[key] = number(value, rng)
        elif key == "speed":
            values["adv"] = str(rng.choice(_ADVERBS[value]))
        else:
            values[key] = value
    text = template.format(**values)
    return re.sub(r"\s+", " ", text).strip()


def _phrase(template: str, slots: dict, possessive: str, form: str, rng, verbs: dict) -> str:
    """Fill a template and inflect its bracketed verb ('finite' or 'gerund'); record the lemma."""
    text = fill(template, slots, possessive, rng)

    def inflect(match):
        words = match.group(1).split(" ")
        head = third_person(words[0]) if form == "finite" else gerund(words[0])
        verbs[head] = words[0]
        return " ".join([head] + words[1:])

    return re.sub(r"\[([^\]]+)\]", inflect, text)


def _pick(templates: list[str], rng) -> str:
    return str(templates[int(rng.integers(len(templates)))])


def _subject(rng) -> tuple[str, str]:
    subject, possessive = SUBJECTS[int(rng.integers(len(SUBJECTS)))]
    return subject, possessive


def sequence_caption(segments: list[Segment], rng: np.random.Generator) -> tuple[str, dict]:
    """'a person walks forward, then jumps twice.' for actions in order; returns text and verbs."""
    subject, possessive = _subject(rng)
    verbs: dict[str, str] = {}
    phrases = [_phrase(_pick(s.templates, rng), s.slots, possessive, "finite", rng, verbs) for s in segments]
    body = phrases[0]
    for index, phrase in enumerate(phrases[1:], start=2):
        joiners = _LAST_JOINERS if index == 3 else _JOINERS
        body += str(rng.choice(joiners)) + phrase
    if len(phrases) > 1 and rng.random() < 0.25:
        return f"first {subject} {body}.", verbs
    return f"{subject} {body}.", verbs


def layered_caption(upper: Segment, base: Segment, rng: np.random.Generator) -> tuple[str, dict]:
    """'someone waves the right hand while walking in a circle.' (either action may lead)."""
    subject, possessive = _subject(rng)
    verbs: dict[str, str] = {}
    pattern = int(rng.integers(3))
    if pattern == 0:
        main = _phrase(_pick(upper.layer_templates, rng), upper.slots, possessive, "finite", rng, verbs)
        side = _phrase(_pick(base.layer_templates, rng), base.slots, possessive, "gerund", rng, verbs)
        return f"{subject} {main} while {side}.", verbs
    if pattern == 1:
        main = _phrase(_pick(base.layer_templates, rng), base.slots, possessive, "finite", rng, verbs)
        side = _phrase(_pick(upper.layer_templates, rng), upper.slots, possessive, "gerund", rng, verbs)
        return f"{subject} {main} while {side}.", verbs
    main = _phrase(_pick(upper.layer_templates, rng), upper.slots, possessive, "finite", rng, verbs)
    side = _phrase(_pick(base.layer_templates, rng), base.slots, possessive, "finite", rng, verbs)
    return f"{subject} {side} and {main} at the same time.", verbs


_TAGS = {
    "DET": {"a", "an", "the", "his", "her", "their", "its", "each", "every", "this", "that", "both"},
    "PRON": {"he", "she", "they", "it", "someone", "somebody", "himself", "herself", "themselves"},
    "CCONJ": {"and", "or", "but"},
    "ADP": {"to", "in", "on", "with", "at", "of", "over", "above", "into", "from", "by", "while",
            "before", "after", "like", "for", "across", "along", "toward", "towards", "through"},
    "ADV": {"then", "forward", "forwards", "backward", "backwards", "around", "again", "twice",
            "once", "up", "down", "away", "back", "fast", "sideways", "finally", "first", "together",
            "overhead", "diagonally", "counterclockwise", "clockwise", "briskly", "leisurely",
            "steadily", "there", "high", "low", "halfway", "apart", "out", "off", "aside", "still"},
    "ADJ": {"left", "right", "small", "big", "full", "quick", "slow", "normal", "deep", "single",
            "other", "same", "straight", "short", "long", "wide", "upward", "few", "several"},
}
_PLURALS = {"steps": "step", "times": "time", "hands": "hand", "arms": "arm", "legs": "leg",
            "feet": "foot", "shoulders": "shoulder", "knees": "knee", "degrees": "degree",
            "circles": "circle", "jacks": "jack", "punches": "punch", "kicks": "kick",
            "squats": "squat", "lunges": "lunge", "jumps": "jump", "hops": "hop", "waves": "wave",
            "claps": "clap", "toes": "toe", "turns": "turn", "sides": "side", "metres": "metre",
            "meters": "meter", "paces": "pace"}


def tokens(caption: str, verbs: dict[str, str]) -> str:
    """HumanML3D-style tokens 'lemma/POS' separated by spaces (punctuation dropped)."""
    result = []
    for word in re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", caption.lower()):
        if word in verbs:
            result.append(f"{verbs[word]}/VERB")
        elif word.isdigit() or word in _NUMBER_WORDS:
            result.append(f"{word}/NUM")
        elif word.endswith("ly") and len(word) > 4:
            result.append(f"{word}/ADV")
        else:
            tag = next((t for t, words in _TAGS.items() if word in words), "NOUN")
            result.append(f"{_PLURALS.get(word, word)}/{tag}")
    return " ".join(result)


def text_line(caption: str, verbs: dict[str, str]) -> str:
    """One line of a HumanML3D texts file: caption#tokens#start#end (whole clip: 0.0#0.0)."""
    return f"{caption}#{tokens(caption, verbs)}#0.0#0.0"
