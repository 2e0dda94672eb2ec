"""A local demo web of Vietnamese news outlets: feeds, sitemaps and article pages, offline."""
