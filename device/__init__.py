"""The device around the energy manager (DEV-1, DEV-2, DEV-5, DEV-7, DEV-8): system information,
network and time settings, RS485 status, restart, factory reset and the system logs."""
