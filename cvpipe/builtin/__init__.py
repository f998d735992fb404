"""cvpipe's built-in plugins, one module per job.

Each module here is a plugin like any third party's: it implements hooks from
:mod:`cvpipe.hookspecs` and is listed in :data:`cvpipe.plugins.BUILTIN_PLUGINS`. Modules stay
cheap to import; heavy libraries are imported inside the functions that use them.
"""
