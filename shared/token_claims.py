"""The inline token list of a service's settings (``<PREFIX>_TOKENS``), parsed and checked.
Pure: no framework, no I/O; ``shared.settings`` validates with it at start-up and
``shared.infra.auth.TokenRegistry`` builds its principals from it.

Syntax: comma-separated entries ``TOKEN=[NAME:]ROLE[@TRIAL|TRIAL...][/SITE|SITE...]``:

- ``tok1=lab-system``, ``tok2=auditor``: a role alone (unchanged since the first version);
- ``tok3=coordinator@NCT06920433|NCT0000001``: a coordinator's trial claims after ``@``
  (``*`` grants every trial), unchanged;
- ``tok4=coordinator@NCT06920433/site-a``, ``tok5=coordinator@*/site-a|site-b``: the ``sites``
  claim after ``/`` (a site-scoped coordinator or auditor sees only those sites' patients);
- ``tok6=lab-system/site-a``: the site a lab system's submissions are stamped with;
- ``tok7=ward-a:coordinator@NCT06920433``: the client name before ``:`` (``CLIENT_PATTERN``).

Client names: the client name is what is logged, what intake's and audit's access logs keep as
the requester, and a lab's source system (its patients are keyed by it). An entry without a
name gets ``<role>-client`` when it is the first unnamed entry of its role, else
``<role>-client-<n>``, n counting that role's unnamed entries (2, 3, ...): a configuration with
one token per role keeps the names it always had, and appending a token renames none before
it. Two entries may give the same name (the old and the new token of one client while it
switches); a name may not be another entry's derived name.

``/`` and ``:`` cannot occur in a trial id (a trial is a directory of the registry) nor in a
site code (letters, digits, ``.``, ``_``, ``-``; at most 64: ``SITE_PATTERN``), nor ``:`` in a
role, so entries written before the site claim or the name read exactly as before.
deploy/SECURITY.md "Site scope".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.sites import SITE_PATTERN

ROLES = ("lab-system", "coordinator", "auditor", "admin")
_SITE = re.compile(SITE_PATTERN)
CLIENT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""A client name: letters, digits, ``.``, ``_``, ``-``; at most 128 (the logs' client columns)."""
_CLIENT = re.compile(CLIENT_PATTERN)


@dataclass(frozen=True, slots=True)
class InlineToken:
    """One entry: the token, its role (one of ``ROLES``), its trial and site claims, and its
    client name (given, or derived: see the module docstring)."""

    token: str
    role: str
    trials: frozenset[str]
    sites: frozenset[str]
    client: str = ""


def parse_inline_tokens(text: str) -> list[InlineToken]:
    """Every entry of ``text`` (empty entries and surrounding blanks ignored).

    Raises ``ValueError`` naming the entry by position (never the token itself, a secret) and
    what is wrong: no ``=``, an empty token, an empty name before ``:`` or one outside
    ``CLIENT_PATTERN``, an unknown role, an empty trial or site list after ``@`` or ``/``, a
    site code outside ``SITE_PATTERN``, a token given twice, or a name that is another entry's
    derived name.
    """
    tokens: list[InlineToken] = []
    named: dict[str, int] = {}  # explicit name -> first entry giving it
    unnamed: dict[str, int] = {}  # role -> how many unnamed entries so far
    derived: set[str] = set()
    seen: set[str] = set()
    entries = [e.strip() for e in text.split(",")]
    for position, entry in enumerate((e for e in entries if e), start=1):
        where = f"token entry {position}"
        token, equals, claim = entry.partition("=")
        token = token.strip()
        if not equals or not token:
            raise ValueError(f"{where}: expected TOKEN=ROLE[@TRIAL|...][/SITE|...]")
        if token in seen:
            raise ValueError(f"{where}: this token is given twice")
        seen.add(token)
        name, colon, claim = claim.rpartition(":") if ":" in claim else ("", "", claim)
        name = name.strip()
        if colon and not name:
            raise ValueError(f"{where}: empty client name before ':'")
        if name and not _CLIENT.match(name):
            raise ValueError(f"{where}: {name[:70]!r} is not a client name (letters, digits, "
                             "'.', '_', '-'; at most 128)")
        scope, slash, site_text = claim.partition("/")
        role, at, trial_text = scope.partition("@")
        role = role.strip()
        if role not in ROLES:
            raise ValueError(f"{where}: unknown role {role[:32]!r} (one of {', '.join(ROLES)})")
        trials = frozenset(t.strip() for t in trial_text.split("|") if t.strip())
        if at and not trials:
            raise ValueError(f"{where}: no trial after '@' (name one, or '*' for every trial)")
        sites = frozenset(s.strip() for s in site_text.split("|") if s.strip())
        if slash and not sites:
            raise ValueError(f"{where}: no site after '/' (name one, or drop the '/')")
        wrong = sorted(s for s in sites if not _SITE.match(s))
        if wrong:
            raise ValueError(f"{where}: {wrong[0][:70]!r} is not a site code (letters, "
                             "digits, '.', '_', '-'; at most 64)")
        if name:
            named.setdefault(name, position)
            client = name
        else:
            unnamed[role] = unnamed.get(role, 0) + 1
            count = unnamed[role]
            client = f"{role}-client" if count == 1 else f"{role}-client-{count}"
            derived.add(client)
        tokens.append(InlineToken(token, role, trials, sites, client))
    for name, position in named.items():
        if name in derived:
            raise ValueError(f"token entry {position}: client name {name!r} is another token's "
                             "derived name (name that token too, or choose another)")
    return tokens
