"""The replay: the product's cycle against the simulated plant, in stepped time.

It sits above both the product and the simulator (it uses both); neither imports it. It also
holds ``bootstrap_simulated``, the first start of a development plant from a simulator scenario.
"""
