"""DVC stage modules: params -> genqc library calls -> outputs, one module per stage."""
