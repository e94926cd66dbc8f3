"""Framework-light helpers shared by the apps."""
