"""The web app's route modules, one per area. Each implements the ``register_routes`` hook
(``jedi_academy.hooks``): ``create_app`` builds the plumbing (sign-in, CSRF, pages, ownership checks) and
hands it to them as ``Routes``. Route modules hold no SQL (``web/data.py`` and the stages' services do)."""
