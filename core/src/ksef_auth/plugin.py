"""The one thing a plugin imports to implement hooks: ``from ksef_auth import hookimpl``.

A plugin is a module (or object) with ``@hookimpl`` functions named after the hooks in
:mod:`ksef_auth.hookspecs`, registered through an entry point in the group ``ksef_auth``::

    [project.entry-points.ksef_auth]
    myplugin = "ksef_auth_myplugin"
"""

from __future__ import annotations

import pluggy

PROJECT = "ksef_auth"
ENTRY_POINT_GROUP = "ksef_auth"
#: optional index: component name -> the plugin's module, so that only that plugin is imported
COMPONENTS_GROUP = "ksef_auth.components"

hookimpl = pluggy.HookimplMarker(PROJECT)
