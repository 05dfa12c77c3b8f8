"""The typer app for kb (installed as the import package `kb_cli`)."""
