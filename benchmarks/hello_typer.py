"""Latency floor for benchmarks/bench.py: a one-command Typer app that imports numpy."""
import typer, numpy  # noqa: E401, F401

app = typer.Typer()


@app.command()
def hello():
    print("hello")


if __name__ == "__main__":
    app()
