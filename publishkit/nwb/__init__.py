"""NWB conversion: templates rendered per sessions-table row into NWB files."""
