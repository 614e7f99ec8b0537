"""Entry point of the `nbnet` console script."""
import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nbnet")
def main():
    """nbnet: fast neural networks on multicore CPUs."""


if __name__ == "__main__":
    main()
