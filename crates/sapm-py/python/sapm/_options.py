"""Options mirror the TOML keys of a config file one to one: a keyword
argument `section__key=value` is the key `section.key` (`train__max_iterations=300`
is `[train] max_iterations = 300`, `--set train.max_iterations=300` on the
command line); top-level keys keep their name (`threads=2`). The library's
own parser and checks decide what is valid, so an unknown key or one the
chosen method does not read raises ValueError with the library's message."""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

# `data.*` keys that say where `sapm train` reads its data; the Python API
# takes arrays instead. Other `data.*` keys (e.g. scaling) go to the library.
DATA_SOURCE_KEYS = (
    "builtin",
    "n_train",
    "n_test",
    "noise",
    "train",
    "test",
    "test_fraction",
    "inputs",
    "outputs",
    "seed",
)


# The Regressor's named parameters and the keys they set.
NAMED = {
    "network.depth": "depth",
    "network.width": "width",
    "network.activation": "activation",
    "method": "method",
    "seed": "seed",
}


def dotted(name: str) -> str:
    """`train__max_iterations` -> `train.max_iterations`."""
    return name.replace("__", ".")


def underscored(key: str) -> str:
    """`train.max_iterations` -> `train__max_iterations`."""
    return key.replace(".", "__")


def flatten(config: Mapping[str, Any], prefix: str = "") -> List[Tuple[str, Any]]:
    """A nested dict config as dotted `(key, value)` pairs (lists stay values)."""
    out: List[Tuple[str, Any]] = []
    for k, v in config.items():
        if not isinstance(k, str):
            raise TypeError(f"config keys must be strings, got {k!r}")
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            sub = flatten(v, key + ".")
            if sub:
                out.extend(sub)
            else:
                out.append((key, {}))
        else:
            out.append((key, v))
    return out


def keyword_options(options: Mapping[str, Any]) -> List[Tuple[str, Any]]:
    """Keyword options as dotted `(key, value)` pairs; None is refused (a
    config has no null: leave the option out to get its default)."""
    for k, v in options.items():
        if v is None:
            raise TypeError(
                f"option {k}: None is not a config value (leave the option out to get its default)"
            )
    return [(dotted(k), v) for k, v in options.items()]


def regression_options(params: Dict[str, Any], options: Mapping[str, Any]) -> List[Tuple[str, Any]]:
    """The overrides of a Regressor: its named parameters, then its options."""
    opts = keyword_options(options)
    named = NAMED
    for key, _ in opts:
        if key in named:
            raise ValueError(
                f"option {underscored(key)!r}: set it with the {named[key]}= parameter"
            )
        section, _, leaf = key.partition(".")
        if section == "data" and (leaf in DATA_SOURCE_KEYS or leaf == ""):
            raise ValueError(
                f"option {underscored(key)!r}: Regressor.fit takes its data from X, y "
                f"(and eval_set); `{key}` only tells `sapm train` where to read data"
            )
        if section == "pde":
            raise ValueError(
                f"option {underscored(key)!r}: PDE problems are solved by sapm.pinn.solve"
            )
    out: List[Tuple[str, Any]] = [
        ("method", params["method"]),
        ("seed", params["seed"]),
        ("network.activation", params["activation"]),
    ]
    # Arrays are user data: standardised like a `data.train` file unless the
    # options say otherwise (the built-in problems of `sapm train` are not).
    if not any(k == "data.scale" for k, _ in opts):
        out.append(("data.scale", "standard"))
    hidden = any(k == "network.hidden" for k, _ in opts)
    # With explicit hidden widths the library refuses depth/width as unused;
    # pass them only when changed from the defaults, so that refusal names them.
    for key, name, default in (("network.depth", "depth", 6), ("network.width", "width", 20)):
        if not hidden or params[name] != default:
            out.append((key, params[name]))
    return out + opts


def describe(opts: Iterable[Tuple[str, Any]]) -> str:
    return ", ".join(f"{underscored(k)}={v!r}" for k, v in opts)


_INVALID = re.compile(r"invalid config value for `(?P<key>[\w.]+)`")
_UNKNOWN = re.compile(r"unknown field `(?P<field>\w+)`")
_IN_KEY = re.compile(r"key `(?P<key>[\w.]+)`")


def explain(e: ValueError, named: Optional[Mapping[str, str]] = None) -> ValueError:
    """The library's config error prefixed with the option that caused it,
    in the caller's spelling (`train__max_iteratons`, or `width` for a
    named parameter); other errors unchanged."""
    msg = str(e)
    key = None
    m = _INVALID.match(msg)
    if m:
        key = m["key"]
    elif msg.startswith("config error"):
        u = _UNKNOWN.search(msg)
        k = _IN_KEY.search(msg)
        if u:  # `key` names the section holding the unknown field
            key = f"{k['key']}.{u['field']}" if k else u["field"]
        elif k:
            key = k["key"]
    if key is None:
        return e
    name = (named or {}).get(key, underscored(key))
    return ValueError(f"option {name}: {msg}")
