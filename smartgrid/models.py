"""The smart grid app's models."""

from smartgrid.eebus.models import EebusPeer  # noqa: F401  (EEBus peers and trust per plant, SG-4)
