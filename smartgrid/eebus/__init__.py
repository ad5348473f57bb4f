"""The EEBus service around the native SHIP/SPINE stack: peers and trust per plant (models, trust
store, identities), the running service (``serve_eebus``), the connections page, API and console."""
