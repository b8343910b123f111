from kappa.cli.app import main

main()
