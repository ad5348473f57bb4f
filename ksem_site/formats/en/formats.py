"""English dates with the 24-hour clock: an energy manager's times (limits, events, sessions) are
read against the device's own 24-hour times, and "5:30 p.m." beside "17:30:00" confused people."""

DATETIME_FORMAT = "N j, Y, H:i"
SHORT_DATETIME_FORMAT = "m/d/Y H:i"
TIME_FORMAT = "H:i"
