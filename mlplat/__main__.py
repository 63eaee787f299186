from mlplat.cli import main

main()
