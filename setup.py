"""treemtl_plugin: tree-structured multi-task model recommender for mmengine and timm."""
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
#: folders shipped inside the package (OpenMMLab's .mim layout), so that a wheel install has
#: the configs and the console scripts have their tools
SHIPPED = ('configs', 'tools')


class BuildPyWithShippedFiles(build_py):
    """build_py that also copies configs/ and tools/ to treemtl_plugin/.mim/ in the build
    (an editable install reads the repository's folders instead)."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        for name in SHIPPED:
            target = osp.join(self.build_lib, 'treemtl_plugin', '.mim', name)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(osp.join(HERE, name), target,
                            ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'treemtl_plugin', 'version.py'), encoding='utf-8') as f:
        exec(f.read(), scope)
    return scope['__version__']


with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
    long_description = f.read()

setup(
    name='treemtl_plugin',
    version=read_version(),
    description='Where should each task branch off a shared backbone? A tree-structured '
                'multi-task model recommender (Zhang, Liu & Guan, AutoML-Conf 2022) for '
                'mmengine and timm.',
    long_description=long_description,
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.9',
    packages=find_packages(include=['treemtl_plugin', 'treemtl_plugin.*']),
    include_package_data=True,
    install_requires=[
        'numpy>=1.22',
        'scipy>=1.8',
        'networkx>=3.0',
        'torch>=2.0',
        'torchvision>=0.15',
        'timm>=0.9.2',
        'mmengine>=0.10.0,<0.11',
        'fvcore>=0.1.5.post20221221',
        'matplotlib>=3.5',
        'rich>=12.0',
    ],
    entry_points={'console_scripts': [
        'treemtl-recommend = treemtl_plugin.apis.cli:recommend_main',
        'treemtl-train = treemtl_plugin.apis.cli:train_main',
        'treemtl-test = treemtl_plugin.apis.cli:test_main',
    ]},
    cmdclass={'build_py': BuildPyWithShippedFiles},
    extras_require={
        'tests': ['pytest>=7.0', 'hypothesis>=6.0', 'ruff>=0.5'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
