"""The ENECTOR's setup over its RS485 line, outside the cycle (run as the worker's device jobs):
read its info, move it from the factory address to its own (WB-2), back to the factory address,
and upload firmware (WB-13). Each opens the line's one bus for the job and closes it after."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from energy.config import SerialConfig
from energy.devices import EVSE_CHARGING
from wallbox import registers as reg
from wallbox.drivers.enector import (
    PLUGGED_STATES,
    SETUP_TIMEOUT_S,
    BoxLine,
    EnectorError,
    ModbusExceptionReply,
    NoVendorBlock,
    VehiclePluggedIn,
    WallboxInfo,
)

T = TypeVar("T")


async def _with_line(
    serial: SerialConfig, address: int, work: Callable[[BoxLine], Coroutine[Any, Any, T]], deadline_s: float
) -> T:
    line = BoxLine(serial, address, SETUP_TIMEOUT_S)
    try:
        return await line.guard(lambda: work(line), deadline_s)
    finally:
        line.close()


async def _info(line: BoxLine) -> WallboxInfo:
    head = await line.read(reg.LAYOUT_VERSION, 1 + reg.FIRMWARE_REGISTERS)
    serial = await line.read(reg.SERIAL_NUMBER, reg.SERIAL_REGISTERS)
    try:
        vendor = await line.read(reg.MODBUS_ADDRESS, 2)
        hardware = f"{vendor[1]:04d}"
    except ModbusExceptionReply:
        hardware = ""  # a box without the vendor block
    layout = head[0]
    return WallboxInfo(
        address=line.address,
        serial=reg.decode_text(serial),
        firmware=reg.decode_text(head[1:]),
        hardware=hardware,
        layout_version=f"{layout >> 8}.{(layout >> 4) & 0xF}.{layout & 0xF}",
    )


async def read_info(serial: SerialConfig, address: int = reg.FACTORY_ADDRESS) -> WallboxInfo:
    """Serial number, firmware and hardware version of the box at ``address``."""
    return await _with_line(serial, address, _info, SETUP_TIMEOUT_S * 4)


async def move_address(
    serial: SerialConfig,
    from_address: int = reg.FACTORY_ADDRESS,
    to_address: int = 100,
    *,
    allow_plugged: bool = False,
) -> WallboxInfo:
    """Move the box at ``from_address`` to ``to_address`` and return its info read there.

    Raises :class:`VehiclePluggedIn` while a vehicle is plugged in (the box keeps its address;
    try again once it is unplugged) and :class:`EnectorError` when nothing answers at
    ``from_address``. A box already at ``to_address`` (nothing at ``from_address``) is not
    looked for: the caller decides whether that is the same box.
    """
    if not reg.MIN_ADDRESS <= to_address <= reg.MAX_ADDRESS:
        raise EnectorError(f"address {to_address} is outside 1..247")
    if from_address == to_address:
        return await read_info(serial, to_address)

    async def move(line: BoxLine) -> None:
        state = await line.read(reg.EVSE_STATE, 1)
        if state[0] in PLUGGED_STATES and not allow_plugged:
            raise VehiclePluggedIn(
                f"a vehicle is plugged in at {line.where}: the address is changed once it is unplugged"
            )
        try:
            await line.write_one(reg.MODBUS_ADDRESS, to_address)
        except ModbusExceptionReply as exc:
            if exc.code == 6:
                raise VehiclePluggedIn(
                    f"the box at {line.where} refused the new address while a vehicle is plugged in"
                ) from None
            if exc.code == 2:
                raise NoVendorBlock(
                    f"the box at {line.where} has no register for its Modbus address (none is published for the "
                    "ENECTOR/AMTRON; only the simulated box has this product's vendor block)"
                ) from None
            raise

    await _with_line(serial, from_address, move, SETUP_TIMEOUT_S * 4)
    try:
        return await read_info(serial, to_address)
    except EnectorError as exc:
        raise EnectorError(f"the box took address {to_address} but does not answer there: {exc}") from None


async def restore_factory_address(serial: SerialConfig, address: int) -> WallboxInfo:
    """Write the factory address 50 back (on delete), whatever is plugged in."""
    return await move_address(serial, address, reg.FACTORY_ADDRESS, allow_plugged=True)


async def update_firmware(
    serial: SerialConfig,
    address: int,
    data: bytes,
    progress: Callable[[float], None] | None = None,
) -> WallboxInfo:
    """Send a firmware image through the vendor block; the box checks it, installs it and
    restarts. ``progress`` gets the share sent (0..1). Returns the info read afterwards."""
    if not data:
        raise EnectorError("the firmware file is empty")
    if len(data) > reg.MAX_FIRMWARE_BYTES:
        raise EnectorError(f"the firmware file has {len(data)} bytes; at most {reg.MAX_FIRMWARE_BYTES} fit")
    report = progress or (lambda fraction: None)
    chunk_bytes = reg.FIRMWARE_CHUNK_MAX_BYTES

    async def send(line: BoxLine) -> None:
        try:
            await line.read(reg.FIRMWARE_UPDATE_STATUS, 1)
        except ModbusExceptionReply as exc:
            if exc.code != 2:
                raise
            raise NoVendorBlock(
                f"the box at {line.where} has no firmware update over Modbus (none is published for the "
                "ENECTOR/AMTRON; only the simulated box has this product's vendor block): nothing was sent"
            ) from None
        state = await line.read(reg.EVSE_STATE, 1)
        if state[0] == EVSE_CHARGING:
            raise EnectorError(f"the box at {line.where} is charging: pause it before a firmware update")
        await line.write_one(reg.FIRMWARE_UPDATE_CONTROL, reg.FW_ABORT)
        await line.write_many(reg.FIRMWARE_SIZE, reg.encode_u32(len(data)))
        await line.write_one(reg.FIRMWARE_UPDATE_CONTROL, reg.FW_BEGIN)
        report(0.0)
        for offset in range(0, len(data), chunk_bytes):
            await line.write_many(reg.FIRMWARE_CHUNK, reg.encode_bytes(data[offset : offset + chunk_bytes]))
            report(min(1.0, (offset + chunk_bytes) / len(data)))
        received = reg.decode_u32(await line.read(reg.FIRMWARE_RECEIVED, 2))
        if received != len(data):
            raise EnectorError(f"the box received {received} of {len(data)} bytes")
        await line.write_many(reg.FIRMWARE_CRC32, reg.encode_u32(zlib.crc32(data)))
        try:
            await line.write_one(reg.FIRMWARE_UPDATE_CONTROL, reg.FW_COMMIT)
        except ModbusExceptionReply as exc:
            if exc.code == 3:
                raise EnectorError("the box rejected the firmware image (not an ENECTOR image, or damaged)") from None
            raise
        status = await line.read(reg.FIRMWARE_UPDATE_STATUS, 1)
        if status[0] != reg.FW_INSTALLED:
            raise EnectorError(f"the box reports firmware update status {status[0]} instead of installed")

    # A chunk takes ~50 ms at 57600 baud; allow a generous multiple of that.
    chunks = len(data) // chunk_bytes + 1
    await _with_line(serial, address, send, SETUP_TIMEOUT_S * (8 + chunks))
    return await read_info(serial, address)


__all__ = ["move_address", "read_info", "restore_factory_address", "update_firmware"]
