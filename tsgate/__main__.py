from tsgate.cli import main

main()
