"""The Gradio web app: one module per tab, assembled by `apex_demo.ui.app.build_app`.

This package is the only place that turns ApexError into gr.Error.
"""

from apex_demo.ui.app import build_app, create_context, launch_options

__all__ = ["build_app", "create_context", "launch_options"]
