"""The public transparency pages: handlers.py (the two routes), index_page.py (the page frame,
its CSS and CSP, and the index), agency_page.py (one agency's page). The data comes from
proxy.oversight.transparency."""
