"""A misspelled key on the command line (``modle=cnn_lstm``, ``trainer.max_epoch=3``) named in one
line with the closest known key, before Hydra composes anything.

Only the first part of a plain override (``key=value`` or ``key.sub=value``; not ``+``, ``++``,
``~`` or ``hydra.``) is checked, against the keys the config can have at its top: the primary
config's own keys, the config groups (the package's and ``./conf``'s), and the top-level keys of
every ``@package _global_`` config (experiments set keys of their own). Where no known key is
close, Hydra's own message stands; so a key this list misses is never refused here.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import yaml

from homogenization.conf import config_file

GLOBAL_PACKAGE = "# @package _global_"


def known_keys(primary: str, local_conf: Path = Path("conf")) -> set[str]:
    """The top-level keys a composed ``primary`` config (``train``, ``analyze``) can have."""
    root = config_file()
    keys = {"hydra"}
    keys |= set(yaml.safe_load(root.joinpath(f"{primary}.yaml").read_text()) or {})
    folders = [root] + ([local_conf] if local_conf.is_dir() else [])
    for folder in folders:
        for group in folder.iterdir():
            if not group.is_dir() or group.name.startswith("_"):
                continue
            keys.add(group.name)
            keys |= _global_keys(group)
    return keys


def _yaml_files(folder, recursive: bool = True) -> list:
    """The .yaml files of ``folder`` (a Path or the package's Traversable), sorted by name, with its
    subfolders' when ``recursive``; none when it is no folder."""
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
        if entry.is_dir() and recursive:
            found += _yaml_files(entry)
        elif entry.name.endswith(".yaml"):
            found.append(entry)
    return found


def _global_keys(folder) -> set[str]:
    """Top-level keys of the ``@package _global_`` configs below ``folder``."""
    keys: set[str] = set()
    for entry in _yaml_files(folder):
        text = entry.read_text()
        if text.lstrip().startswith(GLOBAL_PACKAGE):
            keys |= {key for key in (yaml.safe_load(text) or {}) if key != "defaults"}
    return keys


def flat_groups(primary: str) -> set[str]:
    """The config groups ``primary`` composes whose options all put their keys at the top
    (``@package _global_``): ``analysis.bootstrap=`` is not a key of homog-analyze, ``bootstrap=`` is."""
    root = config_file()
    defaults = (yaml.safe_load(root.joinpath(f"{primary}.yaml").read_text()) or {}).get("defaults") or []
    groups = {key.split()[-1] for entry in defaults if isinstance(entry, dict) for key in entry}
    return {group for group in groups if root.joinpath(group).is_dir()
            and all(entry.read_text().lstrip().startswith(GLOBAL_PACKAGE)
                    for entry in root.joinpath(group).iterdir() if entry.name.endswith(".yaml"))}


def group_keys(group: str, local_conf: Path = Path("conf")) -> set[str]:
    """The keys directly below a config group's package (``trainer`` -> max_epochs, precision, ...):
    the top-level keys of every option of the group (and its subgroups, e.g. model/size) and the
    packages its options' defaults put under it (``/optimizer@optimizer``). Empty when the group's
    options put their keys elsewhere (``@package _global_``) or the group does not exist."""
    keys: set[str] = set()
    for folder in [config_file()] + ([local_conf] if local_conf.is_dir() else []):
        for entry in _yaml_files(folder.joinpath(*group.split("/"))):
            text = entry.read_text()
            if text.lstrip().startswith(("# @package", "#@package")):
                return set()        # relocated keys: not checked here
            content = yaml.safe_load(text) or {}
            if not isinstance(content, dict):
                continue
            keys |= {key for key in content if key != "defaults"}
            for default in content.get("defaults") or []:
                for name in (default if isinstance(default, dict) else {default: None}):
                    target = str(name).split("@", 1)[1] if "@" in str(name) else ""
                    if target and not target.startswith("_global_"):
                        keys.add(target.split(".", 1)[0])
                    elif not target and "/" not in str(name) and str(name) != "_self_":
                        keys.add(str(name).split()[-1])    # a subgroup such as model/size: its own keys
    return keys


def misspelled_below_group(arguments: list[str], local_conf: Path = Path("conf")) -> str | None:
    """``trainer.max_epoch=3``: a key below a config group that none of the group's options has,
    close to one they have (Hydra says "Key 'max_epoch' is not in struct" over several lines)."""
    for argument in arguments:
        if "=" not in argument or argument.startswith(("+", "~", "-", "hydra")):
            continue
        key, value = argument.split("=", 1)
        parts = key.strip().split(".")
        if len(parts) < 2:
            continue
        keys = group_keys(parts[0], local_conf)
        if not keys or parts[1] in keys:
            continue
        close = difflib.get_close_matches(parts[1], sorted(keys), n=1, cutoff=0.8)
        if close:
            suggestion = ".".join([parts[0], close[0], *parts[2:]])
            return (f"{argument}: {parts[0]} has no key '{parts[1]}'; did you mean {suggestion}={value}? "
                    f"(a new key is added with +{argument})")
    return None


def misspelled(arguments: list[str], known: set[str], flat: set[str] = frozenset()) -> str | None:
    """The first override whose top-level key is unknown but close to a known one, or that puts a
    top-level key below a ``flat`` group's name: one line."""
    for argument in arguments:
        if "=" not in argument or argument.startswith(("+", "~", "-")):
            continue
        key, value = argument.split("=", 1)
        key = key.strip()
        top = key.split(".", 1)[0].split("/", 1)[0]
        below = key.split(".", 1)[1] if "." in key else ""
        if top in flat and below and below.split(".", 1)[0] in known:
            return (f"{argument}: the keys of the '{top}' settings are set at the top of this command; "
                    f"did you mean {below}={value}?")
        if top in known:
            continue
        close = difflib.get_close_matches(top, sorted(known), n=1, cutoff=0.75)
        if close:
            suggestion = key.replace(top, close[0], 1)
            return (f"{argument}: no config key or group '{top}'; did you mean {suggestion}={value}? "
                    f"(a new key is added with +{argument})")
    return None


def malformed_user_config(local_conf: Path = Path("conf")) -> str | None:
    """The first YAML file of the user's own ``./conf`` that does not parse, as one line naming the
    file and line (Hydra would stop with a traceback); None when they all parse."""
    if not local_conf.is_dir():
        return None
    for path in sorted(local_conf.rglob("*.yaml")):
        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            return f"{path}: not UTF-8 text; save it as UTF-8"
        except yaml.YAMLError as error:
            mark = getattr(error, "context_mark", None) or getattr(error, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            return f"{where}: not valid YAML ({problem}); fix this file of your ./conf, or move it away"
        except OSError as error:
            return f"{path}: cannot be read ({error.strerror})"
    return None


def unquoted_sweeper_param(arguments: list[str]) -> str | None:
    """``hydra.sweeper.params.seed_init=1,2,3`` is read by Hydra as a sweep over its own config
    (refused) or an ambiguous list; the sweeper's parameter needs its value quoted. The line that
    says so, with the argument as it should be written, or None."""
    for argument in arguments:
        key, equals, value = argument.lstrip("+~").partition("=")
        if not (equals and key.startswith("hydra.sweeper.params.")) or value[:1] in "'\"":
            continue
        if "," in value and not value.startswith(("[", "{")) and "(" not in value:
            name = key.removeprefix("hydra.sweeper.params.")
            return (f"{argument}: Hydra reads an unquoted a,b,c as a sweep of its own config; quote the "
                    f"sweeper's values: '{key}=\"{value}\"' (or sweep the key itself: {name}={value})")
    return None


def unreadable_override(arguments: list[str]) -> str | None:
    """An override Hydra's grammar cannot read (``out=runs/bob's``, ``name=a=b``; Hydra prints a
    lexer error and a hint about HYDRA_FULL_ERROR): the line that names it and how to quote it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    for argument in arguments:
        if "=" not in argument or argument.startswith("-"):
            continue
        try:
            parser.parse_overrides([argument])
        except OverrideParseException as error:
            reason = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
            key = argument.split("=", 1)[0]
            return (f"{argument}: Hydra cannot read this override ({reason}); a value with quotes, "
                    f"spaces, '=' or ',' goes in quotes Hydra sees: '{key}=\"<value>\"'")
    return None


def unknown_option(arguments: list[str], local_conf: Path = Path("conf")) -> str | None:
    """``model=gpt9``: a config group's option that neither the package nor ./conf has (Hydra lists
    the options over several lines and points at HYDRA_FULL_ERROR): one line with the choices."""
    folders = [config_file()] + ([local_conf] if local_conf.is_dir() else [])
    for argument in arguments:
        if "=" not in argument or argument.startswith(("+", "~", "-", "hydra")):
            continue
        group, value = (part.strip() for part in argument.split("=", 1))
        homes = [folder.joinpath(*group.split("/")) for folder in folders
                 if folder.joinpath(*group.split("/")).is_dir()]
        if not homes or "." in group or any(mark in value for mark in "${}[]()'\""):
            continue
        choices = sorted({entry.name.removesuffix(".yaml") for home in homes
                          for entry in _yaml_files(home, recursive=False)})
        for option in value.split(","):      # a multirun sweeps several
            option = option.strip()
            if option == "null":             # Hydra stops with a ValueError traceback
                return (f"{argument}: Hydra leaves a config group out with ~{group} (no value), not "
                        f"{group}=null; or choose one of {', '.join(choices)}")
            if option and option not in choices:
                return (f"{group}={option}: no such {group}; choose one of {', '.join(choices)}, or add "
                        f"conf/{group}/{option}.yaml where you run the command")
    return None


def check_overrides(primary: str) -> None:
    """Exit with one line (status 2) if a file of the user's ./conf is not YAML, a sweeper
    parameter is unquoted, an override is not Hydra's grammar, a config group has no such option,
    or a command-line key is a likely misspelling."""
    malformed = malformed_user_config() or unquoted_sweeper_param(sys.argv[1:]) or \
        unreadable_override(sys.argv[1:]) or unknown_option(sys.argv[1:])
    if malformed:
        print(f"error: {malformed}", file=sys.stderr)
        sys.exit(2)
    try:
        problem = misspelled(sys.argv[1:], known_keys(primary), flat_groups(primary)) or \
            misspelled_below_group(sys.argv[1:])
    except (OSError, yaml.YAMLError):      # a config Hydra will report on itself
        return
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
