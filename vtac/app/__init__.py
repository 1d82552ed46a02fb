"""The application layer: what the command line, the service and its extras worker share to make one
version of a burst's products. :func:`vtac.app.version.build_version` works in memory (no file path, no
environment); :mod:`vtac.app.catalogs` asks the reference catalogues the settings name.
"""
