"""One owner per RS485 line (MB-3, WB-2, WB-14): every Modbus RTU device on a serial port, an
inverter, the SDM630 meter or an ENECTOR, does its transactions through the port's one bus
(:mod:`rtubus.bus`). No Django and nothing of the apps: the meter, inverter and wallbox drivers
all stand on it."""
