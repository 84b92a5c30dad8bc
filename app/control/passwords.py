"""The password policy: what a new password must not be, each refusal saying why.

Following NIST SP 800-63B (rev. 4, 2025, §3.1.1.2 "Password verifiers"): length is what
makes a password strong, so there are **no composition rules** (no "one digit, one capital")
and no periodic change; instead a new password

* has at least **15 characters** (SP 800-63B-4: "a minimum of 15 characters" for a password
  that is the only factor, as a GridTwin login is; rev. 3 of 2017 said 8) and at most 256 —
  a passphrase of three or four unrelated words is easy to type and to remember;
* is not one of the **10,000 most common passwords** (``common_passwords.txt``, with its
  source and licence), compared case-insensitively, with spaces removed and with common
  letter substitutions undone (``p@ssw0rd`` is ``password``);
* does not contain the **user name**, ``gridtwin`` or the **station's** id or name words
  (context-specific words, which an attacker tries first);
* is not **built from patterns**: one character repeated (``aaaaaaaaaaaaaaa``), too few
  different characters (fewer than 5), a shorter text repeated (``abcabcabc…``), or only
  common passwords (at most two), runs like ``12345678`` or ``abcdef``, rows of the keyboard
  (``qwertyuiop``, ``1qaz2wsx``), years and repeats with fewer than 4 other characters —
  ``password12345678`` or ``sunshinebaseball`` are refused, while three common words and a
  few of one's own (``correct horse battery``) are a passphrase and accepted.

Every check is pure Python and fast (a set lookup and a small dynamic programme over the
password), so the dialogs run it for an immediate answer and the accounts service runs it
again for every new password — command line, first administrator, users window and a
user's own change alike. Passwords set before this policy are not checked until changed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

MIN_LENGTH = 15
MAX_LENGTH = 256
MIN_DISTINCT = 5
MIN_OWN_CHARS = 4  # characters not explained by a pattern a password must have
COMMON_FILE = "common_passwords.txt"

_LEET = str.maketrans({"@": "a", "4": "a", "8": "b", "(": "c", "3": "e", "6": "g", "1": "i",
                       "!": "i", "|": "l", "0": "o", "$": "s", "5": "s", "7": "t", "+": "t",
                       "2": "z"})
_KEY_ROWS = ("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./",
             "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/", "qazwsxedcrfvtgbyhnujmikolp",
             "!@#$%^&*()_+", "7894561230", "0123456789")
_KEY_WALKS = _KEY_ROWS + tuple(r[::-1] for r in _KEY_ROWS)


class WeakPassword(ValueError):
    """A new password the policy refuses; the message says why."""


@functools.cache
def common_passwords() -> dict[str, int]:
    """The shipped list: password → rank (1 = most common)."""
    text = resources.files("app.control").joinpath(COMMON_FILE).read_text(encoding="utf-8")
    words = [w for w in text.splitlines() if w and not w.startswith("#")]
    return {w: i for i, w in enumerate(words, 1)}


def _norm(s: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", s.lower())


def context_words(*texts: str) -> tuple[str, ...]:
    """Words a password must not contain, from names: each whole name (letters and digits
    only, e.g. ``gtka400`` of ``GT-KA-400``) and each of its words of 5 letters or more."""
    out: list[str] = []
    for t in texts:
        for w in [t, *re.findall(r"[A-Za-z]{5,}", t)]:
            n = _norm(w)
            if len(n) >= 4 and n not in out:
                out.append(n)
    return tuple(out)


def _repeated_unit(s: str) -> str | None:
    """The shortest text that ``s`` is a repetition of (at least twice), or None."""
    n = len(s)
    for k in range(1, n // 2 + 1):
        unit = s[:k]
        if (unit * (n // k + 1))[:n] == s:
            return unit
    return None


def _run_end(s: str, i: int) -> tuple[int, str] | None:
    """The longest pattern starting at ``i``: same character ≥ 3, a ±1 sequence of letters or
    digits ≥ 3, a keyboard walk ≥ 4, a year 1900–2039. (end, kind) or None."""
    n = len(s)
    best: tuple[int, str] | None = None
    j = i + 1
    while j < n and s[j] == s[i]:
        j += 1
    if j - i >= 3:
        best = (j, "repeat")
    if i + 1 < n and s[i].isalnum() and s[i + 1].isalnum() and \
            s[i].isdigit() == s[i + 1].isdigit() and abs(ord(s[i + 1]) - ord(s[i])) == 1:
        step = ord(s[i + 1]) - ord(s[i])
        j = i + 1
        while j + 1 < n and ord(s[j + 1]) - ord(s[j]) == step and \
                s[j + 1].isdigit() == s[i].isdigit() and s[j + 1].isalnum():
            j += 1
        if j + 1 - i >= 3 and (best is None or j + 1 > best[0]):
            best = (j + 1, "sequence")
    for row in _KEY_WALKS:
        k = row.find(s[i:i + 4]) if i + 4 <= n else -1
        if k < 0:
            continue
        j = i + 4
        while j < n and k + (j - i) < len(row) and row[k + (j - i)] == s[j]:
            j += 1
        if best is None or j > best[0]:
            best = (j, "keyboard")
    if re.fullmatch(r"(19\d\d|20[0-3]\d)", s[i:i + 4]) and (best is None or i + 4 > best[0]):
        best = (i + 4, "year")
    return best


def _patterns(password: str) -> tuple[int, int, list[str]] | None:
    """The decomposition of ``password`` into common passwords (≤ 2 of them) and patterns
    that leaves the fewest other characters: (other characters, common words, pieces)."""
    low = password.lower()
    dl = low.translate(_LEET)
    common = common_passwords()
    n = len(low)
    inf = n + 1
    # dp[i][w]: fewest unexplained characters in low[:i] using w common words (3 = more)
    dp = [[inf] * 4 for _ in range(n + 1)]
    back: list[list[tuple[int, int, str] | None]] = [[None] * 4 for _ in range(n + 1)]
    dp[0][0] = 0
    for i in range(n):
        runs = []
        r = _run_end(low, i)
        if r is not None:
            runs.append((r[0], 0))
            # a shorter part of a run may leave room for a word after it
            runs.extend((j, 0) for j in range(i + 3, r[0]))
        for j in range(i + 4, min(n, i + 24) + 1):
            if low[i:j] in common or dl[i:j] in common:
                runs.append((j, 1))
        for w in range(4):
            if dp[i][w] >= inf:
                continue
            if dp[i][w] + 1 < dp[i + 1][w]:
                dp[i + 1][w], back[i + 1][w] = dp[i][w] + 1, (i, w, "")
            for j, isword in runs:
                w2 = min(3, w + isword)
                if dp[i][w] < dp[j][w2]:
                    dp[j][w2], back[j][w2] = dp[i][w], (i, w, low[i:j])
    w = min(range(3), key=lambda k: dp[n][k])
    if dp[n][w] >= inf:
        return None
    pieces, i, ww = [], n, w
    while i > 0:
        pi, pw, piece = back[i][ww]  # type: ignore[misc]
        if piece:
            pieces.append(piece)
        i, ww = pi, pw
    return dp[n][w], w, pieces[::-1]


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """What a new password must satisfy (see the module's text); ``context`` are the extra
    words it must not contain (the station's names), ``gridtwin`` always among them."""

    min_length: int = MIN_LENGTH
    max_length: int = MAX_LENGTH
    context: tuple[str, ...] = ("gridtwin",)

    def __post_init__(self) -> None:
        if self.min_length < 8:
            raise ValueError("field 'min_length': a password policy needs at least 8 "
                             "characters (NIST SP 800-63B's floor)")

    def with_context(self, *names: str) -> PasswordPolicy:
        words = tuple(dict.fromkeys(self.context + context_words(*names)))
        return PasswordPolicy(self.min_length, self.max_length, words)

    def problem(self, password: str, username: str = "") -> str | None:
        """Why ``password`` is refused (one sentence), or None when it is acceptable."""
        n = len(password)
        if not password:
            return "enter a password"
        if n < self.min_length:
            return (f"a password needs at least {self.min_length} characters (this one has "
                    f"{n}); three or four unrelated words make a good one")
        if n > self.max_length:
            return f"a password has at most {self.max_length} characters (this one has {n})"
        low = password.lower()
        common = common_passwords()
        for form in (low, low.replace(" ", ""), low.translate(_LEET),
                     low.replace(" ", "").translate(_LEET)):
            if form in common:
                return "it is one of the 10,000 most common passwords"
        flat, flat_dl = _norm(password), _norm(low.translate(_LEET))
        user = _norm(username)
        if len(user) >= 3 and (user in flat or user in flat_dl):
            return "it contains the user name"
        for w in self.context:
            if w in flat or w in flat_dl:
                return f"it contains '{w}', the name of the program or the station"
        distinct = len(set(low))
        if distinct == 1:
            return f"it is one character repeated ('{password[0]}')"
        if distinct < MIN_DISTINCT:
            return (f"it uses only {distinct} different characters; use at least "
                    f"{MIN_DISTINCT}")
        unit = _repeated_unit(low)
        if unit is not None:
            return f"it is '{password[:len(unit)]}' repeated"
        found = _patterns(password)
        if found is not None and found[0] < MIN_OWN_CHARS:
            _, _, pieces = found
            if len(pieces) == 1:
                kind = _run_end(low, low.find(pieces[0]))
                what = {"sequence": "a sequence", "keyboard": "a row of keys",
                        "repeat": "a repeated character"}.get(kind[1] if kind else "",
                                                             "a common password")
                rest = "" if pieces[0] == low else " with little else"
                return f"it is {what} ('{pieces[0]}'){rest}"
            shown = " + ".join(f"'{p}'" for p in pieces[:5]) + (" …" if len(pieces) > 5
                                                                 else "")
            return (f"it is made of common passwords and patterns ({shown}); add words of "
                    "your own")
        return None

    def check(self, password: str, username: str = "") -> None:
        """Raise :class:`WeakPassword` (a ValueError naming the field) when refused."""
        why = self.problem(password, username)
        if why is not None:
            raise WeakPassword(f"field 'password': {why}")


DEFAULT_POLICY = PasswordPolicy()
