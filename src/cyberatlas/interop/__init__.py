"""Exchange formats at the edge: STIX 2.1, MISP, CSV and text in; STIX, MISP and CSV out."""
