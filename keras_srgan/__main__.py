import sys

from keras_srgan.cli import main

sys.exit(main())
