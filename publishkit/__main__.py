from publishkit.cli import main

main()
