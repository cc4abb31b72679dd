from a3c_cli.cli import main

main()
