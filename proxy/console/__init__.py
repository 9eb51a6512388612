"""The browser console at /console/: static files shipped in the package (static/), the
Content-Security-Policy they are served under, the public configuration the page reads, and
the demo's sign-in. HTTP lives in proxy/http/console.py."""
