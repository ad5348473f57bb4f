"""SPINE datagram model: addresses, headers, commands, result data and the error numbers.

Everything that arrives is checked here before the engine acts on it; a datagram of the wrong
shape becomes a ``SpineError`` with the error number the answer carries, never an exception out
of the engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

SPECIFICATION_VERSION = "1.3.0"
CLASSIFIERS = frozenset({"read", "reply", "notify", "write", "call", "result"})
MAX_ENTITY_DEPTH = 8
MAX_ADDRESS_LEN = 256
MAX_UINT = 2**64 - 1
# keys of a cmd that are not its data element
CMD_META_KEYS = frozenset({"function", "filter", "manufacturerSpecificExtension", "lastUpdateAt"})
_DEVICE_ADDRESS_PART = re.compile(r"[^A-Za-z0-9._\-]+")


class ErrorNumber(IntEnum):
    """ResultData error numbers (SPINE 1.3.0, spine-go model/result.go)."""

    NO_ERROR = 0
    GENERAL_ERROR = 1
    TIMEOUT = 2
    OVERLOAD = 3
    DESTINATION_UNKNOWN = 4
    DESTINATION_UNREACHABLE = 5
    COMMAND_NOT_SUPPORTED = 6
    COMMAND_REJECTED = 7
    RESTRICTED_FUNCTION_EXCHANGE_COMBINATION_NOT_SUPPORTED = 8
    BINDING_IS_NECESSARY_FOR_THIS_COMMAND = 9


class SpineError(Exception):
    """Becomes a ``result`` with this error number and description."""

    def __init__(self, number: int, description: str) -> None:
        super().__init__(description)
        self.number = int(number)
        self.description = description


def device_address(brand: str, model: str, serial: str) -> str:
    """``d:_n:<brand>_<model>-<serial>`` (SPINE 7.1.1.2 with a brand name), at most 256 chars."""

    def clean(part: str) -> str:
        return _DEVICE_ADDRESS_PART.sub("", part.replace(" ", "")) or "x"

    return f"d:_n:{clean(brand)}_{clean(model)}-{clean(serial)}"[:MAX_ADDRESS_LEN]


@dataclass(frozen=True)
class Address:
    """A SPINE address: device (None = not given), entity path, feature (None = entity address)."""

    device: str | None
    entity: tuple[int, ...]
    feature: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.device is not None:
            out["device"] = self.device
        out["entity"] = list(self.entity)
        if self.feature is not None:
            out["feature"] = self.feature
        return out

    def with_device(self, device: str | None) -> Address:
        return Address(device, self.entity, self.feature)

    def local(self) -> tuple[tuple[int, ...], int | None]:
        """The device-independent part."""
        return (self.entity, self.feature)

    def __str__(self) -> str:
        ent = ".".join(str(e) for e in self.entity)
        return f"{self.device or '?'}:[{ent}]:{self.feature}"


def is_uint(value: Any, maximum: int = MAX_UINT) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum


def parse_address(obj: Any, what: str, need_feature: bool = True) -> Address:
    if not isinstance(obj, dict):
        raise SpineError(ErrorNumber.GENERAL_ERROR, f"{what} must be an object")
    device = obj.get("device")
    if device is not None and (not isinstance(device, str) or len(device) > MAX_ADDRESS_LEN):
        raise SpineError(ErrorNumber.GENERAL_ERROR, f"{what}.device must be a string of at most 256 chars")
    entity = obj.get("entity")
    if (
        not isinstance(entity, list)
        or not 1 <= len(entity) <= MAX_ENTITY_DEPTH
        or not all(is_uint(e, 2**32 - 1) for e in entity)
    ):
        raise SpineError(ErrorNumber.GENERAL_ERROR, f"{what}.entity must be a list of 1-8 unsigned integers")
    feature = obj.get("feature")
    if feature is None:
        if need_feature:
            raise SpineError(ErrorNumber.GENERAL_ERROR, f"{what}.feature is missing")
    elif not is_uint(feature, 2**32 - 1):
        raise SpineError(ErrorNumber.GENERAL_ERROR, f"{what}.feature must be an unsigned integer")
    return Address(device, tuple(entity), feature)


@dataclass(frozen=True)
class Header:
    source: Address
    destination: Address
    msg_counter: int
    classifier: str
    msg_counter_reference: int | None = None
    ack_request: bool = False
    specification_version: str | None = None


@dataclass(frozen=True)
class Cmd:
    """The first cmd of a datagram: its function name, data, and the partial/delete filters."""

    function: str
    data: Any
    partial: bool
    delete_filter: dict[str, Any] | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class Datagram:
    header: Header
    cmd: Cmd | None
    error: SpineError | None = None  # the header was usable but the payload was not


def parse_header(obj: Any) -> Header:
    """The header; raises SpineError if it is not usable enough to answer (no reply is sent then)."""
    if not isinstance(obj, dict):
        raise SpineError(ErrorNumber.GENERAL_ERROR, "header must be an object")
    source = parse_address(obj.get("addressSource"), "addressSource")
    dest_obj = obj.get("addressDestination")
    destination = parse_address(dest_obj, "addressDestination")
    counter = obj.get("msgCounter")
    if not isinstance(counter, int) or not is_uint(counter):
        raise SpineError(ErrorNumber.GENERAL_ERROR, "msgCounter must be an unsigned integer")
    classifier = obj.get("cmdClassifier")
    if classifier not in CLASSIFIERS:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "cmdClassifier missing or unknown")
    reference = obj.get("msgCounterReference")
    if reference is not None and not is_uint(reference):
        reference = None
    ack = obj.get("ackRequest") is True
    version = obj.get("specificationVersion")
    return Header(
        source=source,
        destination=destination,
        msg_counter=counter,
        classifier=classifier,
        msg_counter_reference=reference,
        ack_request=ack,
        specification_version=version if isinstance(version, str) else None,
    )


def parse_cmd(payload: Any) -> Cmd:
    if not isinstance(payload, dict):
        raise SpineError(ErrorNumber.GENERAL_ERROR, "payload must be an object")
    cmds = payload.get("cmd")
    if not isinstance(cmds, list) or not cmds:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "payload.cmd must be a non-empty list")
    cmd = cmds[0]  # spine-go processes the first cmd only
    if not isinstance(cmd, dict):
        raise SpineError(ErrorNumber.GENERAL_ERROR, "cmd must be an object")
    data_keys = [k for k in cmd if k not in CMD_META_KEYS]
    if len(data_keys) != 1:
        raise SpineError(ErrorNumber.COMMAND_NOT_SUPPORTED, "cmd must hold exactly one data element")
    function = data_keys[0]
    declared = cmd.get("function")
    if declared is not None and declared != function:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "cmd.function does not name the data element")
    partial = False
    delete_filter: dict[str, Any] | None = None
    filters = cmd.get("filter")
    if filters is not None:
        if not isinstance(filters, list) or len(filters) > 4:
            raise SpineError(ErrorNumber.GENERAL_ERROR, "cmd.filter must be a list of at most 4 filters")
        for flt in filters:
            control = flt.get("cmdControl") if isinstance(flt, dict) else None
            if not isinstance(control, dict):
                raise SpineError(ErrorNumber.GENERAL_ERROR, "filter.cmdControl must be an object")
            if "partial" in control:
                partial = True
            elif "delete" in control:
                delete_filter = flt
            else:
                raise SpineError(ErrorNumber.COMMAND_NOT_SUPPORTED, "filter.cmdControl must be partial or delete")
    return Cmd(function=function, data=cmd[function], partial=partial, delete_filter=delete_filter, raw=cmd)


def parse_datagram(message: Any) -> Datagram:
    """Raises SpineError only when not even the header is usable (nothing can be answered)."""
    if not isinstance(message, dict) or not isinstance(message.get("datagram"), dict):
        raise SpineError(ErrorNumber.GENERAL_ERROR, "not a datagram object")
    inner = message["datagram"]
    header = parse_header(inner.get("header"))
    try:
        cmd = parse_cmd(inner.get("payload"))
    except SpineError as exc:
        return Datagram(header, None, exc)
    return Datagram(header, cmd)


def build_datagram(
    source: Address,
    destination: Address,
    msg_counter: int,
    classifier: str,
    cmd: dict[str, Any],
    reference: int | None = None,
    ack_request: bool = False,
) -> dict[str, Any]:
    header: dict[str, Any] = {
        "specificationVersion": SPECIFICATION_VERSION,
        "addressSource": source.to_json(),
        "addressDestination": destination.to_json(),
        "msgCounter": msg_counter,
    }
    if reference is not None:
        header["msgCounterReference"] = reference
    header["cmdClassifier"] = classifier
    if ack_request:
        header["ackRequest"] = True
    return {"datagram": {"header": header, "payload": {"cmd": [cmd]}}}


def result_cmd(number: int, description: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"errorNumber": int(number)}
    if description:
        data["description"] = description[:256]
    return {"resultData": data}
