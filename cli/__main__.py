from nbnet.cli.main import main

main(prog_name="nbnet")
