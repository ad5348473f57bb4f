"""The cap of an uploaded or downloaded update package (within access.limits.ABSOLUTE_MAX_BYTES)."""

from access.limits import MIB, BodyLimit

UPDATE_PACKAGE = BodyLimit(128 * MIB, "update package")
