"""SPINE 1.3.0 (the EEBus application layer): datagrams, devices, features, the CS and EG devices.

Plain asyncio and JSON, no Django: the SHIP layer (smartgrid.ship) hands datagrams in as plain JSON
objects through a transport (see transport.py); the product talks to the controllable system through
the backend protocol in backend.py.
"""
