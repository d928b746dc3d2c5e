"""Browser users: headless Chromium pages driven over the DevTools protocol, measuring web vitals."""
