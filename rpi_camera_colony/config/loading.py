"""Load a configobj config file, validate it against ``spec.config`` and turn it into frozen settings.

Every problem is collected and reported at once (section, key, value and what is allowed); unknown keys are warned
about with the closest known key, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import validate
from configobj import ConfigObj, ConfigObjError, flatten_errors, get_extra_values

from rpi_camera_colony import backend_registry as registry
from rpi_camera_colony.config.settings import (
    CAMERA_EXTRA_ATTRIBUTES,
    ColonySettings,
    ControllerSettings,
    ControlSettings,
    GeneralSettings,
    LogSettings,
    patch_controllers,
)
from rpi_camera_colony.exc import ConfigError

logger = logging.getLogger(__name__)

SPEC_FILE = Path(__file__).with_name("spec.config")
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
RESOLUTION_LIMITS = (64, 4096)
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)

ConfigSource = Union[str, Path, Mapping[str, Any], list[str]]


# --- custom checks used in spec.config -------------------------------------------------------------------------


def _numbers(value: Any, count: int, kind: type, low: Any = None, high: Any = None) -> list[Any]:
    """Parse '640x480', '(640, 480)', ['(640', '480)'], [640, 480] into ``count`` numbers of ``kind``."""
    text = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    parts = [p for p in re.split(r"[\s,x()\[\]]+", text.strip()) if p]
    if len(parts) != count:
        raise validate.VdtValueError(value)
    try:
        numbers = [kind(p) for p in parts]
    except ValueError:
        raise validate.VdtTypeError(value) from None
    if any((low is not None and n < kind(low)) or (high is not None and n > kind(high)) for n in numbers):
        raise validate.VdtValueError(value)
    return numbers


def check_resolution(value: Any) -> list[int]:
    width, height = _numbers(value, 2, int, *RESOLUTION_LIMITS)
    if width % 2 or height % 2:
        raise validate.VdtValueError(value)
    return [width, height]


def check_int_pair(value: Any, min: Any = None, max: Any = None) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("none", ""):
        return None
    return _numbers(value, 2, int, min, max)


def check_float_quad(value: Any, min: Any = None, max: Any = None) -> list[float]:
    return _numbers(value, 4, float, min, max)


def check_address(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        raise validate.VdtTypeError(value)
    text = str(value).strip()
    if text in ("", "*", "localhost"):
        return text
    try:
        ipaddress.ip_address(text)
    except ValueError:
        if not _HOSTNAME.match(text) or text.replace(".", "").isdigit():
            raise validate.VdtValueError(value) from None
    return text


def check_log_level(value: Any) -> str:
    text = str(value).strip().upper()
    if text not in LOG_LEVELS:
        raise validate.VdtValueError(value)
    return text


def check_backend(value: Any, kind: str) -> str:
    """A backend of ``kind`` from :mod:`rpi_camera_colony.backend_registry`, or ``auto``."""
    text = str(value).strip()
    if isinstance(value, (list, tuple)) or text not in registry.choices(kind):
        raise validate.VdtValueError(value)
    return text


CUSTOM_CHECKS = {
    "backend": check_backend,
    "resolution": check_resolution,
    "int_pair": check_int_pair,
    "float_quad": check_float_quad,
    "address": check_address,
    "log_level": check_log_level,
}


def _describe_check(validator: validate.Validator, check: str) -> str:
    """Say in words what a spec check allows, e.g. 'a whole number in 1..90'."""
    name, args, kwargs, _default = validator._parse_with_caching(check)
    low = kwargs.get("min", args[0] if len(args) > 0 else None)
    high = kwargs.get("max", args[1] if len(args) > 1 else None)
    span = ""
    if low is not None and high is not None:
        span = f" in {low}..{high}"
    elif low is not None:
        span = f" >= {low}"
    elif high is not None:
        span = f" <= {high}"
    if name == "integer":
        return f"a whole number{span}"
    if name == "float":
        return f"a number{span}"
    if name == "boolean":
        return "True or False"
    if name == "string":
        return "text" + (f" of at least {low} character(s)" if low else "")
    if name in ("string_list", "force_list"):
        return "a name, or a comma-separated list of names"
    if name == "option":
        return "one of " + ", ".join(repr(a) for a in args)
    if name == "resolution":
        lo, hi = RESOLUTION_LIMITS
        return f"WIDTHxHEIGHT or WIDTH, HEIGHT with even numbers in {lo}..{hi}, e.g. 640x480"
    if name == "int_pair":
        return f"two whole numbers{span}, e.g. 128, 128 (or None)"
    if name == "float_quad":
        return f"four numbers{span}: x, y, w, h, e.g. 0.0, 0.0, 1.0, 1.0"
    if name == "address":
        return "an IP address or host name, e.g. 192.168.100.10"
    if name == "backend":
        return "one of " + ", ".join(repr(choice) for choice in registry.choices(args[0]))
    if name == "log_level":
        return "one of " + ", ".join(LOG_LEVELS)
    return check


def _spec() -> ConfigObj:
    return ConfigObj(str(SPEC_FILE), list_values=False, _inspec=True, encoding="utf-8")


def _read_raw(source: ConfigSource) -> tuple[ConfigObj, str]:
    if isinstance(source, Mapping):
        return ConfigObj(dict(source), configspec=_spec(), encoding="utf-8"), "<dict>"
    if isinstance(source, list):
        return ConfigObj(source, configspec=_spec(), encoding="utf-8"), "<lines>"
    path = Path(source).expanduser()
    if path.is_dir():
        raise ConfigError(
            [f"{path} is a folder, not a config file (give the path of a .config file)"], source=str(path)
        )
    if not path.is_file():
        raise ConfigError(
            [f"config file not found: {path} (give the path of an existing .config file)"], source=str(path)
        )
    try:
        return ConfigObj(str(path), configspec=_spec(), encoding="utf-8", file_error=True), str(path)
    except ConfigObjError as err:
        problems = [f"line {e.line_number}: {e.msg}: {e.line!r}" for e in getattr(err, "errors", [])] or [str(err)]
        raise ConfigError(problems, source=str(path)) from None
    except UnicodeDecodeError as err:
        raise ConfigError([f"not a UTF-8 text file: {err}"], source=str(path)) from None


def load_config(source: ConfigSource) -> ColonySettings:
    """Load and validate a configuration.

    Args:
        source: path of a config file, a dict shaped like the file (sections as nested dicts), or a list of lines.

    Returns:
        The validated, frozen settings.

    Raises:
        ConfigError: listing every problem found (the file is not used at all if anything is wrong).
    """
    settings = _load(source)
    problems = [problem for c in settings.controllers.values() for problem in controller_problems(c)]
    problems += colony_problems(settings)
    if problems:
        raise ConfigError(problems, source=settings.source)
    return settings


def controller_problems(controller: ControllerSettings) -> list[str]:
    """What is wrong in one camera's settings beyond each value's own range (checked at load time and by the agent
    on the settings it receives)."""
    where = f"controllers.{controller.name}"
    problems = []
    if controller.ttl_in_pin >= 0 and controller.ttl_in_pin == controller.ttl_out_pin:
        problems.append(
            f"{where}.ttl_in_pin = {controller.ttl_in_pin}: the same pin as ttl_out_pin; use two pins (or -1 for none)"
        )
    return problems


def colony_problems(settings: ColonySettings) -> list[str]:
    """What is wrong across the config's sections: ports in use twice, a data folder this machine cannot create for
    its own cameras, two cameras of one machine streaming on one port."""
    problems = []
    control, log = settings.control, settings.log
    if control.port and control.port == log.port:
        problems.append(
            f"log.port = {log.port}: the same port as control.port; the conductor needs two ports (or 0 for any "
            "free one)"
        )
    if any(c.is_local for c in settings.controllers.values()):
        why = _not_creatable(Path(settings.general.remote_data_path).expanduser())
        if why:
            problems.append(
                f"general.remote_data_path = {settings.general.remote_data_path}: cameras on this machine cannot "
                f"write there ({why})"
            )
    streams: dict[tuple[str, int], str] = {}
    for c in settings.controllers.values():
        if not c.stream_video or not c.stream_port:
            continue
        host = "this machine" if c.is_local else c.address
        other = streams.setdefault((host, c.stream_port), c.name)
        if other != c.name:
            problems.append(
                f"controllers.{c.name}.stream_port = {c.stream_port}: {other} streams on that port of {host} too; give "
                "each camera of one machine its own port"
            )
    return problems


def _not_creatable(folder: Path) -> str:
    """Why ``folder`` cannot be created (or written to) here; empty if it can."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"no permission to write in {probe}"
    return ""


def _load(source: ConfigSource) -> ColonySettings:
    """Parse and check each value; the checks across settings are the caller's."""
    raw, source_name = _read_raw(source)
    validator = validate.Validator(CUSTOM_CHECKS)
    result = raw.validate(validator, preserve_errors=True, copy=True)
    problems: list[str] = []
    if result is not True:
        for sections, key, error in flatten_errors(raw, result):
            path = ".".join([*sections, key] if key is not None else sections)
            if key is None:
                problems.append(f"{path}: section is missing or is not a section")
                continue
            section: Any = raw
            for s in sections:
                section = section[s]
            value = section.get(key, "<missing>")
            spec_section: Any = raw.configspec
            for s in sections:
                spec_section = spec_section[s] if s in spec_section else spec_section["__many__"]
            check = spec_section.get(key, "")
            shown = ", ".join(value) if isinstance(value, list) else value
            if error is False:
                problems.append(f"{path}: missing value ({_describe_check(validator, check)})")
            else:
                problems.append(f"{path} = {shown}: must be {_describe_check(validator, check)}")

    warnings_found, extras, misspelt = _unknown_keys(raw)
    problems += misspelt
    controllers_raw: Any = raw.get("controllers", {})
    if not getattr(controllers_raw, "sections", None):
        problems.append("controllers: no cameras configured (add a section like [[camera_1]] under [controllers])")
    general = raw.get("general", {})
    for key in general.get("general_settings_to_patch_into_controller", []) if isinstance(general, Mapping) else []:
        if key not in PATCHABLE_KEYS:
            problems.append(
                f"general.general_settings_to_patch_into_controller = {key}: must name keys that exist in both "
                f"[general] and a controller: {', '.join(sorted(PATCHABLE_KEYS))}"
            )
    for name in getattr(controllers_raw, "sections", []):
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
            problems.append(
                f"controllers.{name}: camera names may only hold letters, digits, '_' and '-' "
                "(they become part of file names)"
            )
    for warning in warnings_found:
        logger.warning("%s: %s", source_name, warning)
    if problems:
        raise ConfigError(problems, source=source_name)
    return _to_settings(raw, extras, source_name, tuple(warnings_found))


PATCHABLE_KEYS = frozenset({"save_data", "acquisition_time", "acquisition_group"})


#: How alike (difflib's ratio) an unknown key and a known one must be for the unknown one to count as misspelt.
MISSPELT_CUTOFF = 0.85


def _unknown_keys(raw: ConfigObj) -> tuple[list[str], dict[str, dict[str, str]], list[str]]:
    """Sort the keys the spec does not know: picamera attributes that pass to the camera (``extras``), near misses
    of a known key (problems: they would silently record with the default instead), and the rest (warnings)."""
    spec = raw.configspec
    warnings_found: list[str] = []
    misspelt: list[str] = []
    extras: dict[str, dict[str, str]] = {}
    for sections, name in get_extra_values(raw):
        path = ".".join([*sections, name])
        if len(sections) == 2 and sections[0] == "controllers" and name in CAMERA_EXTRA_ATTRIBUTES:
            value = raw[sections[0]][sections[1]][name]
            extras.setdefault(sections[1], {})[name] = ", ".join(value) if isinstance(value, list) else str(value)
            continue
        if len(sections) == 2 and sections[0] == "controllers":
            known = list(spec["controllers"]["__many__"].scalars) + sorted(CAMERA_EXTRA_ATTRIBUTES)
        elif sections:
            known = list(spec[sections[0]].scalars) if sections[0] in spec else list(spec.sections)
        else:
            known = list(spec.sections)
        near = difflib.get_close_matches(name, known, n=1, cutoff=MISSPELT_CUTOFF)
        if near:
            misspelt.append(f"{path}: unknown key, did you mean '{near[0]}'? (spell it so, or remove it)")
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        warnings_found.append(f"unknown key or section '{path}' is ignored{hint}")
    return warnings_found, extras, misspelt


def _known(cls: type, section: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``section`` that are fields of the settings class (unknown keys were already warned about)."""
    names = {f.name for f in dataclasses.fields(cls)} - {"name", "camera_extras"}
    return {k: v for k, v in section.items() if k in names}


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _to_settings(
    raw: ConfigObj, extras: Mapping[str, Mapping[str, str]], source: str, warnings_found: tuple[str, ...]
) -> ColonySettings:
    general = GeneralSettings(**{k: _tuple(v) for k, v in _known(GeneralSettings, raw["general"]).items()})
    controllers: dict[str, ControllerSettings] = {}
    for name in raw["controllers"].sections:
        values = {k: _tuple(v) for k, v in _known(ControllerSettings, raw["controllers"][name]).items()}
        controllers[name] = ControllerSettings(
            name=name, camera_extras=tuple(sorted(extras.get(name, {}).items())), **values
        )
    return ColonySettings(
        general=general,
        log=LogSettings(**_known(LogSettings, raw["log"])),
        control=ControlSettings(**_known(ControlSettings, raw["control"])),
        controllers=patch_controllers(general, controllers),
        source=source,
        warnings=warnings_found,
    )


def controller_from_dict(data: Mapping[str, Any]) -> ControllerSettings:
    """Validate one controller's settings as received over the network (agent side).

    Raises:
        ConfigError: listing every bad or unknown key.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise ConfigError(["settings: must be an object with a 'name'"])
    name = data["name"]
    section = {
        k: _to_text(v)
        for k, v in data.items()
        if k not in ("name", "camera_extras", "acquisition_time", "acquisition_group")
    }
    extras = data.get("camera_extras") or {}
    if not isinstance(extras, Mapping):
        raise ConfigError([f"controllers.{name}.camera_extras: must be an object"])
    lines = {
        "general": {"general_setting_has_priority": "False"},  # values arrive already patched
        "log": {},
        "control": {},
        "controllers": {name: {**section, **{k: _to_text(v) for k, v in extras.items()}}},
    }
    settings = _load(lines)
    controller = settings.controllers[name]
    problems = controller_problems(controller)
    if problems:
        raise ConfigError(problems)
    return dataclasses.replace(
        controller,
        acquisition_time=str(data.get("acquisition_time", controller.acquisition_time)),
        acquisition_group=str(data.get("acquisition_group", controller.acquisition_group)),
    )


def _to_text(value: Any) -> Any:
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return str(value)
