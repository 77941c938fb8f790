from renewflow.cli import main

main()
