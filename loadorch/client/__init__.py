"""The lean HTTP/1.1 client (no Locust, no gevent import): connections, redirects and cookies (hops), and the
lean runner's request path (vu). Setup, the database probe and the Locust workers all send through it; inside
a Locust process gevent has patched the sockets, and `http.Connection` takes its gevent fast path by duck typing.
"""
