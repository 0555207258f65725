"""The Mini App's JSON API (/api/), its live boards (/ws/) and the app itself (/app)."""
